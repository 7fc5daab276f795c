"""`ptrm plot DIR` (figures from a run or sweep folder) and `ptrm plot basin` (needs the model)."""
from pathlib import Path

import click

from .common import checkpoint_options, data_options, open_checkpoint, open_puzzles, search_options
from ptrm import basin, plots
from ptrm.errors import PtrmError
from ptrm.runfolder import output_folder


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
    if not folder.is_dir():  # before its plots/ folder is made in it
        raise PtrmError(f"{folder}: not a folder")
    with output_folder(out or folder / "plots"):  # probed first; removed again if nothing is drawn
        for path in plots.plot_folder(folder, fmt, out):
            click.echo(path)


@command.command("basin")
@checkpoint_options
@data_options
@click.option("--puzzle", type=int, help="Puzzle index (default: the first failed one that some rollout escapes).")
@search_options("K", "sigma", "sigma_scale", "D", "seed", "noise_on", "dtype", **basin.DEFAULTS)
@format_option
@click.option("--out", default="plots", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def basin_command(ckpt, arch, task, device, data, limit, puzzle, search_cfg, fmt, out):
    """PCA of the final states of K rollouts of one puzzle the deterministic TRM fails (paper Figure 5)."""
    with output_folder(out):
        ck = open_checkpoint(ckpt, arch, task, device)
        pset = open_puzzles(ck, data, limit, task)
        b = basin.basin_states(ck, pset, search_cfg, puzzle)
        path = plots.basin_figure(b, out / f"basin_escape.{fmt}")
    click.echo(f"puzzle {b.puzzle}: {int(b.records.correct.sum())}/{search_cfg.K} rollouts correct, "
               f"deterministic TRM {'correct' if b.det_correct else 'wrong'}")
    click.echo(path)
