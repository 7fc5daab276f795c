"""Options every command that reads a checkpoint and puzzles shares, and the one way to open them."""
import click

from ptrm.checkpoint import load_checkpoint, parse_arch_overrides
from ptrm.data import load_puzzles


def _stack(options):
    def decorate(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return decorate


checkpoint_options = _stack([
    click.option("--ckpt", required=True, type=click.Path(dir_okay=False),
                 help="Checkpoint: ptrm .pt, official step_N (with all_config.yaml beside it if any), or .safetensors."),
    click.option("--arch", multiple=True, metavar="KEY=VALUE",
                 help="Architecture field an official checkpoint cannot tell, repeatable: --arch num_heads=8."),
    click.option("--task", help="Task (sudoku, maze) when neither the checkpoint nor the data tell."),
])

data_options = _stack([
    click.option("--data", type=click.Path(), help="CSV or official dataset folder (default: the checkpoint's test set)."),
    click.option("--limit", type=click.IntRange(min=1), help="Use the first N puzzles."),
])


def open_checkpoint(ckpt, arch, task):
    return load_checkpoint(ckpt, arch=parse_arch_overrides(arch), task=task)


def open_puzzles(ck, data, limit, task):
    pset = load_puzzles(data, task=task) if data else ck.test_set()
    return pset.head(limit) if limit else pset
