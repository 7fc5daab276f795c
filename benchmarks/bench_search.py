"""Search throughput on this machine, all figures measured side by side in one run.

    python benchmarks/bench_search.py [--ckpt results/checkpoints/sudoku.pt] [--dtype float32]

Prints: dense matmul FLOP/s (the machine's ceiling), rollout-steps/s at K=1 and K=64 with the same number of
rollouts per batch, the achieved network FLOP/s as a fraction of the matmul figure, and the peak resident
memory of searches over growing puzzle counts (it must stay flat: only one work item lives at a time).
"""
import argparse
import multiprocessing as mp
import resource
import time

import torch

from ptrm import metrics
from ptrm.checkpoint import load_checkpoint
from ptrm.runner import run_search
from ptrm.search import SearchConfig, WorkItem, run_item


def matmul_flops(dtype, n=2048, reps=5) -> float:
    a = torch.randn(n, n, dtype=dtype)
    a @ a
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return 2 * n**3 * reps / (time.perf_counter() - t)


def rollout_steps_per_second(ck, pset, K, n_puzzles, cfg):
    item = WorkItem(0, n_puzzles, 0, K)
    run_item(ck.model, pset, WorkItem(0, 1, 0, 1), cfg)  # warm-up
    t = time.perf_counter()
    run_item(ck.model, pset, item, cfg)
    seconds = time.perf_counter() - t
    return item.size * cfg.D / seconds


def _peak_rss_child(path, n, K, chunk, dtype, queue):
    ck = load_checkpoint(path)
    pset = ck.test_set().head(n)
    # One step is enough: memory depends on the rows in flight, not on the depth.
    run_search(ck, pset, SearchConfig(K=K, sigma=0.1, D=1, chunk_size=chunk, dtype=dtype), progress=False,
               deterministic=False)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_rss_mb(path, n, K, chunk, dtype) -> float:
    """Peak memory of a whole search in a fresh process, so runs do not share a high-water mark."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_rss_child, args=(path, n, K, chunk, dtype, q))
    p.start()
    value = q.get()
    p.join()
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="results/checkpoints/sudoku.pt")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--rows", type=int, default=256, help="rollouts per timed batch")
    ap.add_argument("--steps", type=int, default=4, help="supervision steps per timed rollout (rate is per step)")
    ap.add_argument("--memory-puzzles", default="8,32,128", help="puzzle counts for the memory check (K=64)")
    args = ap.parse_args()

    ck = load_checkpoint(args.ckpt)
    pset = ck.test_set()
    dtype = getattr(torch, args.dtype)
    cfg = SearchConfig(K=64, sigma=0.1, D=args.steps, dtype=args.dtype, chunk_size=args.rows)
    peak = matmul_flops(dtype)
    flops_step = metrics.flops_per_step(ck.cfg)
    print(f"checkpoint {args.ckpt}: {ck.model.num_params():,} params, {flops_step / 1e9:.2f} GFLOP per rollout-step; "
          f"torch threads {torch.get_num_threads()}, dtype {args.dtype}")
    print(f"dense matmul (2048^2, {args.dtype}): {peak / 1e9:.1f} GFLOP/s")
    print("| K | rollouts/batch | rollout-steps/s | network GFLOP/s | fraction of matmul |")
    print("|---|---|---|---|---|")
    for K in (1, 64):
        rate = rollout_steps_per_second(ck, pset, K, args.rows // K, cfg)
        print(f"| {K} | {args.rows} | {rate:.1f} | {rate * flops_step / 1e9:.1f} | {rate * flops_step / peak:.2f} |")
    print("\npeak resident memory of a whole search (K=64, chunk 256), fresh process each:")
    for n in map(int, args.memory_puzzles.split(",")):
        print(f"  {n:5d} puzzles x 64 rollouts: {peak_rss_mb(args.ckpt, n, 64, 256, args.dtype):.0f} MB")


if __name__ == "__main__":
    main()
