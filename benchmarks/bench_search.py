"""Where the search stands on this machine: every figure measured side by side in one run.

    python benchmarks/bench_search.py [--ckpt results/checkpoints/sudoku.pt] [--rows 256] [--compile]

Prints the CPU (model, AVX2/AVX-512/bf16/AMX) or GPU, then for every dtype the device computes natively:
rollout-steps/s of the network step, its FLOP/s as a share of a dense 2048^2 matmul and of matmuls with the
step's own shapes (the most the step could reach), the noise's share of a step, the share of a search spent
outside the network, and (with --compile) the same step under torch.compile with its compile time. Then the
peak memory of whole searches over 8 and 512 puzzles (flat: one work item lives at a time).
"""
import argparse
import multiprocessing as mp
import time

import numpy as np
import torch
import torch.nn.functional as F

from ptrm import hardware, metrics, model as trm_model, noise
from ptrm.checkpoint import load_checkpoint
from ptrm.plan import ExecutionPlan
from ptrm.runner import run_search
from ptrm.search import SearchConfig, WorkItem, run_work_item
from timing import median_seconds


def linear_shapes(model, x, carry) -> list[tuple[int, int, int]]:
    """(M, K, N) of every linear layer call in one supervision step, recorded by wrapping F.linear."""
    shapes, real = [], F.linear

    def record(inp, weight, bias=None):
        shapes.append((inp.numel() // inp.shape[-1], inp.shape[-1], weight.shape[0]))
        return real(inp, weight, bias)
    trm_model.F.linear = record
    try:
        model.step(carry, x)
    finally:
        trm_model.F.linear = real
    return shapes


def shape_matched_rate(shapes, dtype, device) -> float:
    """FLOP/s of plain matmuls with the step's own shapes: what the step's math allows at best."""
    mats = {s: (torch.randn(s[0], s[1], dtype=dtype, device=device), torch.randn(s[2], s[1], dtype=dtype,
                                                                                  device=device)) for s in set(shapes)}
    seconds = median_seconds(lambda: [F.linear(*mats[s]) for s in shapes])
    return sum(2 * m * k * n for m, k, n in shapes) / seconds


def dense_rate(dtype, device, n=2048) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    return 2 * n**3 / median_seconds(lambda: a @ a)


def _peak_rss_child(path, n, K, chunk, dtype, queue):
    ck = load_checkpoint(path)
    # One step is enough: memory depends on the rows in flight, not on the depth.
    run_search(ck, ck.test_set().head(n), SearchConfig(K=K, sigma=0.1, D=1, chunk_size=chunk, dtype=dtype),
               progress=False, deterministic=False)
    # VmHWM, not ru_maxrss: the latter survives exec, so a spawned child would report its parent's peak
    with open("/proc/self/status") as f:
        queue.put(next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024)


def peak_rss_mb(path, n, K, chunk, dtype) -> float:
    """Peak memory of a whole search in a fresh process, so runs do not share a high-water mark."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_rss_child, args=(path, n, K, chunk, dtype, q))
    p.start()
    value = q.get()
    p.join()
    return value


def bench_dtype(ck, pset, dtype, B, compile_step):
    model, device = ck.model, ck.model.device
    rows = np.arange(B) % len(pset)  # a batch may hold more rows than the test set has puzzles
    with torch.inference_mode():
        inputs = torch.from_numpy(pset.inputs[rows]).to(device)
        pids = torch.from_numpy(pset.puzzle_identifiers[rows]).to(device)
        x = model.input_embeddings(inputs, pids, dtype)
        carry = tuple(c.to(device) for c in model.initial_carry(B, dtype))
        step = median_seconds(lambda: model.step(carry, x))
        shapes = linear_shapes(model, x, carry)
        matched = shape_matched_rate(shapes, dtype, device)
        dense = dense_rate(dtype, device)
        ks = torch.arange(B, device=device)
        draw = median_seconds(lambda: noise.gaussian(0, ks, ks, 3, 0, (model.cfg.total_len, model.cfg.hidden_size),
                                                    device=device))
        compiled = None
        if compile_step:
            t = time.perf_counter()
            fast = torch.compile(model.step, dynamic=False)
            fast(carry, x)
            compiled = (time.perf_counter() - t, median_seconds(lambda: fast(carry, x)))
    # a whole work item through run_work_item (noise, answers, records) against D bare network steps
    D = 4
    cfg = SearchConfig(K=B, sigma=0.1, D=D, dtype=hardware.dtype_name(dtype), chunk_size=B)
    plan = ExecutionPlan(model.device, dtype, B)
    item = median_seconds(lambda: run_work_item(model, pset, WorkItem(0, 1, 0, B), cfg, plan), repeats=1)
    flops = metrics.flops_per_step(ck.cfg) * B
    name = hardware.dtype_name(dtype)
    print(f"| {name} | eager | {B / step:.1f} | {flops / step / 1e9:.1f} | {flops / step / dense:.2f} "
          f"| {flops / step / matched:.2f} | {draw / step:.3f} | {max(0.0, 1 - D * step / item):.3f} |")
    if compiled:
        compile_s, fast_step = compiled
        print(f"| {name} | compiled ({compile_s:.0f} s to compile) | {B / fast_step:.1f} | "
              f"{flops / fast_step / 1e9:.1f} | {flops / fast_step / dense:.2f} | {flops / fast_step / matched:.2f} | | |")
    return dense, matched


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="results/checkpoints/sudoku.pt")
    ap.add_argument("--rows", type=int, default=256, help="rollouts per timed batch")
    ap.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    ap.add_argument("--memory-puzzles", default="8,512", help="puzzle counts for the memory check (K=64)")
    args = ap.parse_args()

    ck = load_checkpoint(args.ckpt)
    pset = ck.test_set()
    device = ck.model.device
    dtypes = [torch.float32] + ([torch.bfloat16] if hardware.auto_dtype(device)[0] == torch.bfloat16 else [])
    print(hardware.describe())
    print(f"checkpoint {args.ckpt}: {ck.model.num_params():,} params, "
          f"{metrics.flops_per_step(ck.cfg) / 1e9:.2f} GFLOP per rollout-step, {args.rows} rollouts per batch\n")
    print("| dtype | step | rollout-steps/s | network GFLOP/s | share of dense matmul | share of shape-matched "
          "matmuls | noise / step | search time outside the network |")
    print("|---|---|---|---|---|---|---|---|")
    rates = {hardware.dtype_name(d): bench_dtype(ck, pset, d, args.rows, args.compile) for d in dtypes}
    print()
    for name, (dense, matched) in rates.items():
        print(f"{name}: dense matmul 2048^2 {dense / 1e9:.0f} GFLOP/s, the step's own matmul shapes "
              f"{matched / 1e9:.0f} GFLOP/s")
    print("\npeak resident memory of a whole search (K=64, chunk 256, auto dtype), fresh process each:")
    for n in map(int, args.memory_puzzles.split(",")):
        print(f"  {n:5d} puzzles x 64 rollouts: {peak_rss_mb(args.ckpt, n, 64, 256, 'auto'):.0f} MB")


if __name__ == "__main__":
    main()
