"""`ptrm search` and `ptrm solve`: PTRM test-time search from the command line."""
from pathlib import Path

import click
import numpy as np

from .common import (backend_options, budget_options, check_budget, checkpoint_options, data_options,
                     open_checkpoint, open_puzzles, quiet_option, search_options, task_options)
from ptrm import diagnostics, report, tasks, waves
from ptrm.backends import make_backend
from ptrm.errors import PtrmError
from ptrm.runfolder import PARTS, claim, unique_name
from ptrm.runner import best_q_answers, run_search
from ptrm.store import save_run


@click.command("search")
@checkpoint_options
@data_options
@task_options
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Skip the first N puzzles (with --limit: search a window; records keep full-set puzzle indices).")
@search_options()
@backend_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default: runs/search-<time>-<random>); one that holds another run is refused.")
@click.option("--resume", is_flag=True, help="Continue the unfinished run in --out from its finished work items.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out (the old one stays until the new one is complete).")
@click.option("--usd-per-hour", default=2.50, show_default=True, type=float, help="Price of this machine per hour (cost model).")
@budget_options
@quiet_option
def command(ckpt, arch, task, device, data, limit, offset, search_cfg, backend_spec, out, resume, overwrite,
            usd_per_hour, budget_hours, budget_gib, yes, quiet, **task_values):
    """Noisy K-rollout search; prints the deterministic model and every selection rule at K (per dataset row),
    then the task's own tables (ARC: pass@1/pass@2 per task of the official vote and of PTRM's rankings)."""
    cfg = search_cfg
    if not usd_per_hour >= 0:  # also NaN
        raise PtrmError(f"--usd-per-hour must be >= 0, got {usd_per_hour}")
    if resume and out is None:
        raise PtrmError("--resume needs the --out of the run to continue")
    out = out or unique_name("runs", "search")
    with claim(out, resume=resume, overwrite=overwrite):
        ck = open_checkpoint(ckpt, arch, task, device)
        # the whole set: records index puzzles in it (see run_search)
        pset = open_puzzles(ck, data, None, task, **task_values)
        n = min(len(pset), offset + (limit or len(pset))) - offset  # run_search refuses an offset past the end
        if n > 0:
            check_budget(ck, pset, cfg, n, workers=backend_spec.workers, budget_hours=budget_hours,
                         budget_gib=budget_gib, yes=yes)
        with make_backend(ck, backend_spec) as backend:
            run = run_search(ck, pset, cfg, backend=backend, progress=not quiet, offset=offset, limit=limit,
                             parts=out / PARTS)
        save_run(run, out)
    m = run.manifest
    click.echo(f"\n{m['data']['n_puzzles']} puzzles (from #{offset}) of {pset.source}; K={cfg.K}, "
               f"D={m['search']['D']}, sigma={cfg.sigma} ({cfg.sigma_scale}), noise on {cfg.noise_on}, seed {cfg.seed}")
    if cfg.mode == "waves":  # puzzles have different numbers of rollouts: no @K table
        click.echo(report.markdown(waves.summary(run.records)))
    else:
        click.echo(report.markdown(report.rule_table(run)))
        for heading, table in tasks.get(pset.task).search_tables(run):
            click.echo(f"\n{heading}")
            click.echo(report.markdown(table))
    click.echo("\ndiagnostics from the records alone (AUROCs against the labels; docs/method.md)")
    click.echo(report.markdown(diagnostics.table(m["diagnostics"])))
    c = report.compute_per_puzzle(run, usd_per_hour)
    click.echo(f"per puzzle: {c['flops'] / 1e9:.1f} GFLOP ({c['steps'] * m['data']['n_puzzles'] / len(run.records):.2f} steps per rollout), "
               f"{c['seconds']:.3f} s, ${c['usd']:.6f} at ${usd_per_hour}/h")
    click.echo(f"records: {out}/records.parquet")


@click.command("solve")
@checkpoint_options
@search_options("K", "sigma", "sigma_scale", "D", "seed", "noise_on", "chunk_size", "dtype")
@click.argument("puzzle")
def solve_command(ckpt, arch, task, device, search_cfg, puzzle):
    """Solve one puzzle: PUZZLE is its text in the checkpoint's task's form (Sudoku: 81 characters, '.' or 0 for
    blanks) or a file holding it."""
    text = Path(puzzle).read_text().strip() if Path(puzzle).is_file() else puzzle.strip()
    ck = open_checkpoint(ckpt, arch, task, device)
    kind = tasks.get(ck.task)
    pset = kind.from_text(text)
    answers, q = best_q_answers(ck.model, pset, search_cfg)
    click.echo(kind.show(answers[0]))
    valid = bool(kind.verify(pset.inputs, answers[:1])[0])
    click.echo(f"best of K={search_cfg.K} rollouts (sigma {search_cfg.sigma}): q_halt {q[0]:+.2f} "
               f"(P(correct) {1 / (1 + np.exp(-q[0])):.3f}); {'a valid solution' if valid else 'NOT a valid solution'}")
