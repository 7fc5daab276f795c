"""`ptrm sweep`: PTRM search over a sigma x D grid, one run folder per cell; re-running resumes."""
from pathlib import Path

import click

from .common import (backend_options, budget_options, check_budget, checkpoint_options, data_options,
                     open_checkpoint, open_puzzles, quiet_option, search_options)
from ptrm.errors import PtrmError
from ptrm.sweep import SWEEP_FILE, run_sweep


def parse_list(text: str, kind, option: str) -> list:
    """'0,0.05,0.1' -> [0.0, 0.05, 0.1]; blanks are skipped, so '' is the empty list."""
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PtrmError(f"{option}: expected comma-separated {kind.__name__} values, got {text!r}") from None


@click.command("sweep")
@checkpoint_options
@data_options
@click.option("--sigmas", required=True, help="Noise levels, comma-separated: 0,0.05,0.1")
@click.option("--steps", help="Supervision steps D, comma-separated: 16,32 (default: the checkpoint's N_sup).")
@search_options("K", "seed", "noise_on", "sigma_scale", "per_step", "chunk_size", "dtype", "halt_q", "settle", "stop_q", "give_up_q",
                "give_up_step")
@backend_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Sweep folder (default: runs/sweep-<checkpoint name>).")
@click.option("--resume", is_flag=True, help="Insist that --out already holds this sweep (re-running resumes anyway).")
@budget_options
@quiet_option
def command(ckpt, arch, task, device, data, limit, sigmas, steps, search_cfg, backend_spec, out, resume, budget_hours,
            budget_gib, yes, quiet):
    """Search every (sigma, D) cell not finished yet, then write summary.csv and summary.md."""
    sigmas = parse_list(sigmas, float, "--sigmas")
    steps = parse_list(steps, int, "--steps") if steps is not None else None
    out = out or Path("runs") / f"sweep-{Path(ckpt).stem}"
    if resume and not (out / SWEEP_FILE).is_file():
        raise PtrmError(f"--resume: {out} holds no sweep to resume")
    ck = open_checkpoint(ckpt, arch, task, device)
    pset = open_puzzles(ck, data, limit, task)
    depths = [d for _ in sigmas for d in (steps or [ck.cfg.halt_max_steps])]  # every cell, finished ones too
    if depths:
        check_budget(ck, pset, search_cfg, len(pset), depths, backend_spec.workers, budget_hours, budget_gib, yes)
    run_sweep(ck, pset, sigmas, steps, search_cfg, out, backend_spec,
              progress=not quiet, log=click.echo)
    click.echo(f"\n{len(pset)} puzzles from {pset.source}; K={search_cfg.K}, seed {search_cfg.seed}, "
               f"noise on {search_cfg.noise_on}")
    click.echo((out / "summary.md").read_text().rstrip())
    click.echo(f"summary: {out}/summary.csv (with 95% intervals)")
