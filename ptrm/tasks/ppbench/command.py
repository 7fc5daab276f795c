"""`ptrm data ppbench`: the golden puzzles as CSV, and generated puzzles with the training set built from them."""
import time
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from ptrm.errors import PtrmError
from ptrm.tasks.ppbench import board as ppbench_board
from ptrm.tasks.ppbench import build as ppbench_build
from ptrm.tasks.ppbench import records as ppbench_records


@click.command("ppbench")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset root: golden/<type>.csv, and with --generate: generated/, train/, test/, heldout/<type>.csv.")
@click.option("--generate", "n", type=click.IntRange(min=1),
              help="Also generate N puzzles per type (unique solutions, proved by CP-SAT) and build a training set.")
@click.option("--types", default=",".join(ppbench_board.KINDS), show_default=True, help="Comma-separated types to generate.")
@click.option("--heldout", default=200, show_default=True, type=click.IntRange(min=0),
              help="Generated puzzles 0..M-1 of each type are held out (heldout/<type>.csv, test/); the rest train.")
@click.option("--trajectories", default=9, show_default=True, type=click.IntRange(min=0),
              help="Trajectory samples per training puzzle (the paper: 9), each example under a random dihedral transform.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--keep", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Fraction of removable clues left in: 0 minimal (hardest), 1 all.")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(min=1), help="Generator processes.")
def build(out, n, types, heldout, trajectories, seed, keep, processes):
    """PPBench: the golden puzzles of the six modelled types (sudoku, lightup, nurikabe, heyawake, tapa,
    shakashaka) that fit the 10x10 frame, as out/golden/<type>.csv (needs Node.js for pzpr.js); with --generate,
    generated puzzles too (resumable: out/generated/ keeps what was drawn) and the training set built from them."""
    kinds = [k.strip() for k in types.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ppbench_board.KINDS]
    if bad or not kinds:
        raise PtrmError(f"--types: unknown type {bad[0]!r}; types: {', '.join(ppbench_board.KINDS)}" if bad else
                        f"--types: no type given; types: {', '.join(ppbench_board.KINDS)}")
    summary = ppbench_build.write_ppbench_golden(out)
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
            sets[kind], ratings = ppbench_build.generated_ppbench(out / "generated", kind, n, seed, keep, processes, bar.update)
        spread = lambda xs: "/".join(f"{q:.0f}" for q in np.percentile(xs, [5, 50, 95]))
        click.echo(f"{kind:<11} {n} puzzles ({time.perf_counter() - t:.0f} s); clues p5/p50/p95 "
                   f"{spread([ppbench_records.n_clues(b) for b in sets[kind]])}; rating (search branches) "
                   f"p5/p50/p95 {spread(ratings)}, {100 * np.mean(ratings == 0):.0f}% need none")
    counts = ppbench_build.build_ppbench(sets, out, heldout, trajectories, seed)
    for kind, c in counts.items():
        click.echo(f"{kind:<11} held out {c['heldout']} -> {out / 'heldout' / (kind + '.csv')}; "
                   f"{c['train_puzzles']} training puzzles -> {c['train_examples']} examples")
    click.echo(f"{out / 'train'}, {out / 'test'}: the training set and the held-out puzzles of all types (official layout)")
