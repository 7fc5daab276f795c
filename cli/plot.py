"""`ptrm plot DIR` (figures from a run or sweep folder) and `ptrm plot basin` (needs the model)."""
from pathlib import Path

import click

from cli.common import checkpoint_options, data_options, open_checkpoint, open_puzzles
from ptrm import plots
from ptrm.search import NOISE_TARGETS, SearchConfig


class FolderFirst(click.Group):
    """`ptrm plot DIR ...` means `ptrm plot folder DIR ...`: the common case needs no sub-command name."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["folder", *args]
        return super().parse_args(ctx, args)


@click.group("plot", cls=FolderFirst)
def command():
    """Figures as PNG/SVG/PDF.

    \b
    ptrm plot RUN_OR_SWEEP_DIR [--format png|svg|pdf] [--out DIR]
    ptrm plot basin --ckpt CKPT [--sigma S] [--samples K] [--steps D] [--puzzle I]
    """


def format_option(f):
    return click.option("--format", "fmt", type=click.Choice(plots.FORMATS), default="png", show_default=True)(f)


@command.command("folder")
@click.argument("folder", type=click.Path(path_type=Path))
@format_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: DIR/plots).")
def folder_command(folder, fmt, out):
    """Every figure that applies: a run gives width scaling (and Q tracking with --per-step records); a
    sweep gives the sigma sweep and depth vs width."""
    for path in plots.plot_folder(folder, fmt, out):
        click.echo(path)


@command.command("basin")
@checkpoint_options
@data_options
@click.option("--puzzle", type=int, help="Puzzle index (default: the first failed one that some rollout escapes).")
@click.option("--samples", "-K", "K", default=100, show_default=True, type=int, help="Rollouts K.")
@click.option("--sigma", default=0.3, show_default=True, type=float, help="Noise std (absolute).")
@click.option("--steps", "D", type=int, help="Supervision steps D (default: the checkpoint's N_sup).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--noise-on", default="z", show_default=True, type=click.Choice(NOISE_TARGETS))
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16"]))
@format_option
@click.option("--out", default="plots", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def basin_command(ckpt, arch, task, data, limit, puzzle, K, sigma, D, seed, noise_on, dtype, fmt, out):
    """PCA of the final states of K rollouts of one puzzle the deterministic TRM fails (paper Figure 5)."""
    cfg = SearchConfig(K=K, sigma=sigma, D=D, noise_on=noise_on, seed=seed, dtype=dtype).validate()
    ck = open_checkpoint(ckpt, arch, task)
    pset = open_puzzles(ck, data, limit, task)
    basin = plots.basin_states(ck, pset, cfg, puzzle)
    path = plots.basin_figure(basin, out / f"basin_escape.{fmt}")
    click.echo(f"puzzle {basin.puzzle}: {int(basin.records.correct.sum())}/{K} rollouts correct, "
               f"deterministic TRM {'correct' if basin.det_correct else 'wrong'}")
    click.echo(path)
