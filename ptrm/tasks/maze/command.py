"""`ptrm data maze`: generated perfect mazes with their unique route, in the official layout."""
import click

from ptrm.puzzles import write_official
from ptrm.tasks.command_options import split_options, splits_to_write
from ptrm.tasks.maze import sets


@click.command("maze")
@split_options
def build(out, n_train, n_test, seed, overwrite):
    """Generate perfect 30x30 mazes with their unique route (train and test from disjoint seed streams)."""
    for split, n, stream in splits_to_write(out, n_train, n_test, overwrite):
        folder = write_official(sets.generate_maze_set(n, (seed, stream)), out, split, overwrite=overwrite)
        click.echo(f"{folder}: {n} mazes")
