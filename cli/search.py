"""`ptrm search` and `ptrm solve`: PTRM test-time search from the command line."""
import time
from pathlib import Path

import click
import numpy as np

from cli.common import (arc_augs_option, checkpoint_options, data_options, open_checkpoint, open_puzzles, ray_options,
                        search_options)
from ptrm import report
from ptrm.backends import make_backend
from ptrm.data import sudoku_from_text
from ptrm.runner import run_search, solve
from ptrm.store import save_run
from ptrm.tasks import sudoku


@click.command("search")
@checkpoint_options
@data_options
@arc_augs_option
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0),
              help="Skip the first N puzzles (with --limit: search a window; records keep full-set puzzle indices).")
@search_options()
@ray_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder (default: runs/search-<time>).")
@click.option("--usd-per-hour", default=2.50, show_default=True, type=float, help="Price of this machine per hour (cost model).")
def command(ckpt, arch, task, device, data, limit, arc_augs, offset, search_cfg, workers, gpus_per_worker, ray_address, out,
            usd_per_hour):
    """Noisy K-rollout search; prints deterministic, best-Q@K, mode@K, Q-weighted@K and pass@K (per dataset
    row); on ARC also pass@1/pass@2 per task of the official vote and of PTRM's rankings over all augmentations."""
    cfg = search_cfg
    ck = open_checkpoint(ckpt, arch, task, device)
    pset = open_puzzles(ck, data, None, task, arc_augs)  # the whole set: records index puzzles in it (see run_search)
    out = out or Path("runs") / time.strftime("search-%Y%m%d-%H%M%S")
    with make_backend(ck, workers, gpus_per_worker, ray_address) as backend:
        run = run_search(ck, pset, cfg, backend=backend, offset=offset, limit=limit)
    save_run(run, out)
    m = run.manifest
    click.echo(f"\n{m['data']['n_puzzles']} puzzles (from #{offset}) of {pset.source}; K={cfg.K}, "
               f"D={m['search']['D']}, sigma={cfg.sigma} ({cfg.sigma_scale}), noise on {cfg.noise_on}, seed {cfg.seed}")
    click.echo(report.markdown(report.summary(run)))
    if pset.task == "arc" and pset.rows is not None:
        click.echo("\nARC (official score, % of tasks):")
        click.echo(report.markdown(report.arc_summary(run)))
    c = report.compute_per_puzzle(run, usd_per_hour)
    click.echo(f"per puzzle: {c['flops'] / 1e9:.1f} GFLOP ({c['steps'] / cfg.K:.2f} steps per rollout), "
               f"{c['seconds']:.3f} s, ${c['usd']:.6f} at ${usd_per_hour}/h")
    click.echo(f"records: {out}/records.parquet")


@click.command("solve")
@checkpoint_options
@search_options("K", "sigma", "sigma_scale", "D", "seed", "noise_on", "chunk_size", "dtype")
@click.argument("puzzle")
def solve_command(ckpt, arch, task, device, search_cfg, puzzle):
    """Solve one Sudoku: PUZZLE is an 81-character string ('.' or 0 for blanks) or a file holding one."""
    text = Path(puzzle).read_text().strip() if Path(puzzle).is_file() else puzzle.strip()
    pset = sudoku_from_text(text)
    ck = open_checkpoint(ckpt, arch, task, device)
    answers, q = solve(ck.model, pset, search_cfg)
    answer = sudoku.decode(answers[0])
    click.echo(sudoku.pretty(answer))
    valid = sudoku.is_valid_solution(answer, sudoku.decode(pset.inputs[0]))
    click.echo(f"best of K={search_cfg.K} rollouts (sigma {search_cfg.sigma}): q_halt {q[0]:+.2f} "
               f"(P(correct) {1 / (1 + np.exp(-q[0])):.3f}); {'a valid solution' if valid else 'NOT a valid solution'}")
