"""`ptrm search` and `ptrm solve`: PTRM test-time search from the command line."""
import time
from pathlib import Path

import click

from cli.common import checkpoint_options, data_options, open_checkpoint, open_puzzles
from ptrm import report
from ptrm.backends import make_backend
from ptrm.search import NOISE_TARGETS, SearchConfig, run_search
from ptrm.store import save_run


def search_options(f):
    """Search settings shared by `search` and `solve`."""
    for opt in reversed([
        click.option("--samples", "-K", "K", default=64, show_default=True, type=int, help="Rollouts K per puzzle."),
        click.option("--sigma", default=0.1, show_default=True, type=float, help="Noise std (absolute)."),
        click.option("--steps", "D", type=int, help="Supervision steps D (default: the checkpoint's N_sup)."),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--noise-on", default="z", show_default=True, type=click.Choice(NOISE_TARGETS),
                     help="Perturb the latent z (paper), the answer state y, or both."),
        click.option("--chunk-size", default=512, show_default=True, type=int,
                     help="Rollouts per forward batch (speed/memory only; results are identical)."),
        click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16"])),
    ]):
        f = opt(f)
    return f


def ray_options(f):
    """Options shared by `search` and `sweep`: where the rollouts run."""
    for opt in reversed([
        click.option("--workers", default=1, show_default=True, type=int,
                     help="Ray actors; 1 runs in this process, without Ray."),
        click.option("--gpus-per-worker", default=1.0, show_default=True, type=float,
                     help="GPUs per Ray actor (fractions share a GPU); ignored on a cluster without GPUs."),
        click.option("--ray-address", help="Join a running Ray cluster: 'auto' or HOST:PORT (default: start one)."),
    ]):
        f = opt(f)
    return f


@click.command("search")
@checkpoint_options
@data_options
@search_options
@ray_options
@click.option("--per-step", is_flag=True, help="Also record q_halt and correctness after every step.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder (default: runs/search-<time>).")
@click.option("--usd-per-hour", default=2.50, show_default=True, type=float, help="Price of this machine per hour (cost model).")
def command(ckpt, arch, task, data, limit, K, sigma, D, seed, noise_on, chunk_size, dtype, workers, gpus_per_worker,
            ray_address, per_step, out, usd_per_hour):
    """Noisy K-rollout search; prints deterministic, best-Q@K, mode@K, Q-weighted@K and pass@K."""
    cfg = SearchConfig(K=K, sigma=sigma, D=D, noise_on=noise_on, seed=seed, chunk_size=chunk_size,
                       per_step=per_step, dtype=dtype).validate()
    ck = open_checkpoint(ckpt, arch, task)
    pset = open_puzzles(ck, data, limit, task)
    out = out or Path("runs") / time.strftime("search-%Y%m%d-%H%M%S")
    with make_backend(ck, workers, gpus_per_worker, ray_address) as backend:
        run = run_search(ck, pset, cfg, backend=backend)
    save_run(run, out)
    m = run.manifest
    click.echo(f"\n{len(pset)} puzzles from {pset.source}; K={K}, D={m['search']['D']}, sigma={sigma}, "
               f"noise on {noise_on}, seed {seed}")
    click.echo(report.markdown(report.summary(run)))
    c = report.compute_per_puzzle(run, usd_per_hour)
    click.echo(f"per puzzle: {c['flops'] / 1e9:.1f} GFLOP, {c['seconds']:.3f} s, ${c['usd']:.6f} at ${usd_per_hour}/h")
    click.echo(f"records: {out}/records.parquet")


@click.command("solve")
@checkpoint_options
@search_options
@click.argument("puzzle")
def solve_command(ckpt, arch, task, K, sigma, D, seed, noise_on, chunk_size, dtype, puzzle):
    """Solve one Sudoku: PUZZLE is an 81-character string ('.' or 0 for blanks) or a file holding one."""
    import numpy as np

    from ptrm.data import PuzzleSet
    from ptrm.search import solve
    from ptrm.tasks import sudoku

    text = Path(puzzle).read_text().strip() if Path(puzzle).is_file() else puzzle.strip()
    given = sudoku.parse(text)
    cfg = SearchConfig(K=K, sigma=sigma, D=D, noise_on=noise_on, seed=seed, chunk_size=chunk_size, dtype=dtype)
    ck = open_checkpoint(ckpt, arch, task)
    tokens = sudoku.encode(given)[None]
    pset = PuzzleSet(tokens, np.full_like(tokens, -100), np.zeros(1, np.int32), "sudoku",
                     sudoku.VOCAB_SIZE, sudoku.SEQ_LEN, source="command line")
    answers, q = solve(ck.model, pset, cfg)
    answer = sudoku.decode(answers[0])
    click.echo(sudoku.pretty(answer))
    valid = sudoku.is_valid_solution(answer, given)
    click.echo(f"best of K={K} rollouts (sigma {sigma}): q_halt {q[0]:+.2f} "
               f"(P(correct) {1 / (1 + np.exp(-q[0])):.3f}); {'a valid solution' if valid else 'NOT a valid solution'}")
