"""Click helpers the tasks' `ptrm data <task>` commands share (each task's command lives in its package, so a
task is one unit; the `ptrm data` group in cli/ lists the registered ones)."""
from pathlib import Path

import click

from ptrm.errors import PtrmError


def stack(options):
    """One decorator applying `options` (click decorators) in order."""
    def decorate(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return decorate


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
