"""Search throughput (rollouts/s) in-process and on 1 and 2 Ray workers, Ray start-up included.

    python benchmarks/bench_backends.py [--ckpt results/checkpoints/sudoku.pt] [--puzzles 64] [--samples 16]

Each Ray row starts its own local Ray (as `ptrm search --workers N` does) and checks that its records
equal the local ones. Start-up is everything before full speed: Ray and its actors, each loading the
model, and torch's slow first call (one single-rollout item per worker). Without --ckpt it uses the
shipped checkpoint, else a tiny random one.
"""
import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from ptrm.backends import BackendSpec, LocalBackend, RayBackend
from ptrm.checkpoint import load_checkpoint, pack_test_set, save_checkpoint
from ptrm.tasks.sudoku.sets import generate_sudoku_set
from ptrm.model import TRM, TRMConfig
from ptrm.plan import ExecutionPlan
from ptrm.report import markdown
from ptrm.runner import run_search
from ptrm.search import SearchConfig, work_items

SHIPPED = Path("results/checkpoints/sudoku.pt")


def tiny_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    model = TRM(TRMConfig(hidden_size=32, puzzle_emb_ndim=32, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=4))
    path = folder / "tiny.pt"
    save_checkpoint(path, model, task="sudoku", test_set=pack_test_set(generate_sudoku_set(64, seed=0)), metrics={})
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, help=f"checkpoint (default: {SHIPPED} if present, else a tiny random one)")
    parser.add_argument("--puzzles", type=int, default=64)
    parser.add_argument("--samples", "-K", type=int, default=16)
    parser.add_argument("--steps", "-D", type=int, help="supervision steps (default: the checkpoint's N_sup)")
    parser.add_argument("--chunk-size", type=int, default=64, help="rollouts per work item")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.ckpt or (SHIPPED if SHIPPED.is_file() else tiny_checkpoint(Path(tmp)))
        ck = load_checkpoint(path)
        pset = ck.test_set().head(args.puzzles)
        cfg = SearchConfig(K=args.samples, sigma=0.1, D=args.steps, chunk_size=args.chunk_size)
        rollouts = len(pset) * cfg.K
        n_items = len(work_items(len(pset), cfg.K, cfg.chunk_size))
        print(f"{path}: {len(pset)} puzzles x K={cfg.K}, D={args.steps or ck.cfg.halt_max_steps}, "
              f"{n_items} work items, {torch.get_num_threads()} torch threads in this process")

        def search(backend):
            run = run_search(ck, pset, cfg, backend=backend, progress=False, deterministic=False)
            return run.records, run.manifest["wall_seconds"]

        def result(name, workers, startup, seconds, same):
            return {"backend": name, "workers": workers, "start-up s": startup, "search s": seconds,
                    "rollouts/s": rollouts / seconds, "rollouts/s incl. start-up": rollouts / (startup + seconds),
                    "same records": same}

        def warm_up(backend, workers):
            """One single-rollout item per worker: torch's first call is slow, and it is part of start-up."""
            list(backend.map(pset, work_items(workers, 1, 1), cfg, ExecutionPlan.resolve(ck.model.device, cfg.dtype)))

        start = time.perf_counter()
        warm_up(local := LocalBackend(ck.model), 1)
        startup = time.perf_counter() - start
        reference, seconds = search(local)
        rows = [result("local", 1, startup, seconds, True)]
        for workers in (int(w) for w in args.workers.split(",")):
            start = time.perf_counter()
            with RayBackend(ck, BackendSpec(workers=workers)) as backend:  # starts (and at the end stops) a local Ray
                warm_up(backend, workers)
                startup = time.perf_counter() - start
                records, seconds = search(backend)
            rows.append(result("ray", workers, startup, seconds, records.equals(reference)))
    print(markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
