"""`ptrm data sudoku`: generated, uniquely solvable Sudoku sets in the official layout."""
import time

import click

from ptrm.puzzles import write_official
from ptrm.tasks.command_options import split_options, splits_to_write
from ptrm.tasks.sudoku import sets


@click.command("sudoku")
@split_options
@click.option("--min-clues", default=17, show_default=True, type=click.IntRange(17, 81),
              help="Stop removing clues at this count.")
@click.option("--max-clues", default=None, type=click.IntRange(17, 81),
              help="Draw each puzzle's clue target from [min, max]; redraw puzzles left with more. "
                   "Default: no limit (minimal puzzles).")
@click.option("--min-guesses", default=0, show_default=True, type=click.IntRange(min=0),
              help="Redraw puzzles that need fewer search guesses than this.")
def build(out, n_train, n_test, seed, min_clues, max_clues, min_guesses, overwrite):
    """Generate uniquely solvable Sudoku puzzles (train and test from disjoint seed streams)."""
    for split, n, stream in splits_to_write(out, n_train, n_test, overwrite):
        start = time.perf_counter()
        pset = sets.generate_sudoku_set(n, (seed, stream), min_clues, max_clues, min_guesses, progress=True)
        seconds = time.perf_counter() - start
        folder = write_official(pset, out, split, overwrite=overwrite)
        s = sets.sudoku_stats(pset)
        click.echo(f"{folder}: {n} puzzles in {seconds:.1f}s ({n / seconds:.0f}/s); "
                   f"clues {s['clues_min']}-{s['clues_max']} (mean {s['clues_mean']:.1f}); "
                   f"guesses mean {s['guesses_mean']:.1f}, median {s['guesses_median']:.0f}, "
                   f"{100 * s['needs_guess']:.0f}% need a guess")
