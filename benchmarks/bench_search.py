"""Where the search stands on this machine: every figure measured side by side in one run.

    python benchmarks/bench_search.py [--ckpt results/checkpoints/sudoku.pt] [--rows 256] [--compile]
        [--threads N] [--clock wall|cpu] [--chunks 512,128,64,32] [--against OLD_CHECKOUT [--limit 24] [--rounds 2]]

Prints the CPU (model, AVX2/AVX-512/bf16/AMX) or GPU, then for every dtype the device computes natively:
rollout-steps/s of the network step (the in-place step searches run, and the op-by-op step training runs),
its FLOP/s as a share of a dense 2048^2 matmul and of matmuls with the step's own shapes (the most the step
could reach; step and matmuls timed in turn, A B A B, the share the median of the rounds), the noise's share
of a step, the share of a search spent outside the network, and (with --compile) the same step under
torch.compile with its compile time. Then the peak memory of whole searches over 8 and 512 puzzles (flat: one
work item lives at a time). With --chunks, the first command's search (in process, --limit puzzles) at each
chunk size in turn, per dtype: wall seconds, the speed-up over the first size, and whether the records agree.
With --against, the README's first command run by this checkout and by OLD_CHECKOUT in turn (new, old, new,
old, ...), each in a fresh process: wall and CPU seconds, their ratios, and whether the records are the same.
"""
import argparse
import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ptrm import hardware, metrics, model as trm_model, noise, presets
from ptrm.checkpoint import load_checkpoint
from ptrm.plan import ExecutionPlan
from ptrm.runner import run_search
from ptrm.search import SearchConfig, WorkItem, run_work_item
from timing import interleaved_seconds, median_ratio, median_seconds

# The README's first command, without its checkpoint (--ckpt) and output folder (--out)
FIRST_COMMAND = ["search", "--samples", "64", "--sigma", "0.3", "--preset", "adaptive"]


def linear_shapes(model, x, carry) -> list[tuple[int, int, int]]:
    """(M, K, N) of every linear layer call in one supervision step, recorded by wrapping F.linear (which
    the op-by-op step calls for every matmul)."""
    shapes, real = [], F.linear

    def record(inp, weight, bias=None):
        shapes.append((inp.numel() // inp.shape[-1], inp.shape[-1], weight.shape[0]))
        return real(inp, weight, bias)
    trm_model.F.linear = record
    try:
        model.step_autograd(carry, x)
    finally:
        trm_model.F.linear = real
    return shapes


def shape_matched_matmuls(shapes, dtype, device):
    """A function running plain matmuls with the step's own shapes (what the step's math allows at best),
    and their FLOPs. Each writes into a buffer of its shape, as the in-place step does: fresh outputs would
    time the allocator's page faults too (at 256 rows they made the reference slower than the step)."""
    mats = {s: (torch.randn(s[0], s[1], dtype=dtype, device=device),
                torch.randn(s[2], s[1], dtype=dtype, device=device).t(),  # F.linear's weight, as it multiplies it
                torch.empty(s[0], s[2], dtype=dtype, device=device)) for s in set(shapes)}
    return (lambda: [torch.mm(a, w, out=out) for a, w, out in (mats[s] for s in shapes)]), \
        sum(2 * m * k * n for m, k, n in shapes)


def dense_rate(dtype, device, clock, n=2048) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    return 2 * n**3 / median_seconds(lambda: a @ a, clock=clock)


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


def step_inputs(ck, pset, dtype, B):
    """Input embeddings and initial carry of B rollouts of the test set (inside torch.inference_mode)."""
    model, device = ck.model, ck.model.device
    rows = np.arange(B) % len(pset)  # a batch may hold more rows than the test set has puzzles
    inputs = torch.from_numpy(pset.inputs[rows]).to(device)
    pids = torch.from_numpy(pset.puzzle_identifiers[rows]).to(device)
    return model.input_embeddings(inputs, pids, dtype), tuple(c.to(device) for c in model.initial_carry(B, dtype))


def bench_dtype(ck, pset, dtype, B, compile_step, clock, repeats=5):
    model, device = ck.model, ck.model.device
    flops = metrics.flops_per_step(ck.cfg) * B
    with torch.inference_mode():
        x, carry = step_inputs(ck, pset, dtype, B)
        matmuls, matmul_flops = shape_matched_matmuls(linear_shapes(model, x, carry), dtype, device)
        times = interleaved_seconds({"in place": lambda: model.step(carry, x),
                                     "op by op": lambda: model.step_autograd(carry, x),
                                     "matmuls": matmuls}, repeats, clock)
        dense = dense_rate(dtype, device, clock)
        ks = torch.arange(B, device=device)
        draw = median_seconds(lambda: noise.gaussian(0, ks, ks, 3, 0, (model.cfg.total_len, model.cfg.hidden_size),
                                                    device=device), clock=clock)
        if compile_step:
            t = time.perf_counter()
            fast = torch.compile(model.step, dynamic=False)
            fast(carry, x)
            compile_s = time.perf_counter() - t
            compiled = interleaved_seconds({"compiled": lambda: fast(carry, x), "matmuls": matmuls}, repeats, clock)
            times.update({"compiled": compiled["compiled"], "matmuls beside compiled": compiled["matmuls"]})
    step = statistics.median(times["in place"])
    # a whole work item through run_work_item (noise, answers, records) against D bare network steps
    D = 4
    cfg = SearchConfig(K=B, sigma=0.1, D=D, dtype=hardware.dtype_name(dtype), chunk_size=B)
    plan = ExecutionPlan(model.device, dtype, B)
    item = median_seconds(lambda: run_work_item(model, pset, WorkItem(0, 1, 0, B), cfg, plan), repeats=1,
                          clock=clock)
    name = hardware.dtype_name(dtype)
    for kind in ("in place", "op by op") + (("compiled",) if compile_step else ()):
        seconds = statistics.median(times[kind])
        # the share: the step's FLOPs per second over the matmuls', per round (A B A B), median of the rounds
        beside = times["matmuls beside compiled" if kind == "compiled" else "matmuls"]
        share = flops / matmul_flops * median_ratio(beside, times[kind])
        label = f"compiled ({compile_s:.0f} s to compile)" if kind == "compiled" else kind
        extra = f"{draw / step:.3f} | {max(0.0, 1 - D * step / item):.3f}" if kind == "in place" else " | "
        print(f"| {name} | {label} | {B / seconds:.1f} | {flops / seconds / 1e9:.1f} | "
              f"{flops / seconds / dense:.2f} | {share:.2f} | {extra} |")
    return dense, matmul_flops / statistics.median(times["matmuls"])


def profile_step(ck, pset, dtype, B, top=8) -> None:
    """Where the in-place step's time goes, by op (torch.profiler over 20 steps): what bounds the step."""
    from torch.profiler import ProfilerActivity, profile

    model = ck.model
    with torch.inference_mode():
        x, carry = step_inputs(ck, pset, dtype, B)
        for _ in range(3):
            model.step(carry, x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(20):
                model.step(carry, x)
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::") and e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in ops)
    ops.sort(key=lambda e: -e.self_cpu_time_total)
    print(f"\n{hardware.dtype_name(dtype)}: the in-place step's time by op ({B} rollouts, self time, 20 steps)")
    print("| op | share | calls per step |\n|---|---|---|")
    for e in ops[:top]:
        print(f"| {e.key} | {e.self_cpu_time_total / total:.0%} | {e.count // 20} |")
    print(f"| the other {len(ops) - top} ops | {sum(e.self_cpu_time_total for e in ops[top:]) / total:.0%} | |")


class FreshOutputs(trm_model.StepBuffers):
    """The in-place step as it was before its per-step buffers: every matmul and SwiGLU into a new tensor."""

    def mm(self, name, a, b):
        return torch.mm(a, b)

    def swiglu(self, name, gate_up):
        return trm_model.swiglu_(gate_up, 1)


def buffers_side_by_side(ck, pset, dtype, B, repeats=7) -> None:
    """The in-place step with its per-step buffers against fresh outputs, in turn: same values, fewer page faults."""
    kinds = {"buffers": trm_model.StepBuffers, "fresh": FreshOutputs}
    with torch.inference_mode():
        x, carry = step_inputs(ck, pset, dtype, B)
        steps = {name: (lambda buffers=buffers: ck.model._step_inference(carry, x, buffers()))
                 for name, buffers in kinds.items()}
        same = all(torch.equal(a, b) for a, b in zip(steps["buffers"]()[1:], steps["fresh"]()[1:]))
        times = interleaved_seconds(steps, repeats)
    print(f"{hardware.dtype_name(dtype)}, {B} rollouts: step with per-step buffers "
          f"{statistics.median(times['buffers']) * 1e3:.0f} ms, with fresh outputs "
          f"{statistics.median(times['fresh']) * 1e3:.0f} ms: {median_ratio(times['fresh'], times['buffers']):.2f}x; "
          f"logits and q {'identical' if same else 'DIFFER'}")


def chunk_sizes(ck, pset, chunks: list[int], limit: int, rounds: int, dtype) -> None:
    """The README's first command's search (adaptive, K=64, sigma 0.3; no deterministic baseline) on `limit`
    puzzles at each chunk size in turn, round after round: how the rollouts per forward batch set the speed
    (the records agree across sizes: bit for bit in bf16, to last-bit rounding of q in fp32)."""
    cfg = SearchConfig(K=64, sigma=0.3, dtype=hardware.dtype_name(dtype), **presets.preset("adaptive"))
    out = {}

    def search(chunk):
        out[chunk] = run_search(ck, pset, replace(cfg, chunk_size=chunk), progress=False, deterministic=False,
                                limit=limit).records
    times = interleaved_seconds({c: (lambda c=c: search(c)) for c in chunks}, repeats=rounds)
    first = chunks[0]
    print(f"\n{hardware.dtype_name(dtype)}: the first command's search on {limit} puzzles by chunk size "
          f"({rounds} rounds, sizes in turn)")
    print("| chunk size | wall s (median) | speed-up over chunk {first} | records against chunk {first} |"
          .format(first=first) + "\n|---|---|---|---|")
    for c in chunks:
        a, b = out[first], out[c]
        agree = "identical" if a.equals(b) else (
            f"answers {'identical' if a.answer_hash.equals(b.answer_hash) else 'DIFFER'}, "
            f"q within {(a.q_halt - b.q_halt).abs().max():.1e}")
        print(f"| {c} | {statistics.median(times[c]):.1f} | {median_ratio(times[first], times[c]):.2f}x | {agree} |")


def first_command(tree: Path, ckpt: str, limit: int, out: Path) -> tuple[float, float]:
    """The README's first command on `limit` puzzles, run by the checkout at `tree` in a fresh process:
    (wall seconds, CPU seconds of that process)."""
    launcher = "import sys\nfrom cli.main import main\nsys.argv[0] = 'ptrm'\nmain()"
    args = [*FIRST_COMMAND, "--ckpt", str(Path(ckpt).resolve()), "--limit", str(limit), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", launcher, *args], cwd=tree, env={**__import__("os").environ,
                   "PYTHONPATH": str(tree)}, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def side_by_side(old: Path, ckpt: str, limit: int, rounds: int):
    """This checkout against `old`, in turn: new, old, new, old, ... (the same machine, the same load)."""
    import pandas as pd

    here = Path(__file__).resolve().parent.parent
    runs = {"this checkout": [], f"{old}": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for i, (name, tree) in enumerate(zip(runs, (here, old.resolve()))):
                runs[name].append(first_command(tree, ckpt, limit, Path(tmp) / f"{i}-{r}"))
        new_rec, old_rec = (pd.read_parquet(Path(tmp) / f"{i}-0" / "records.parquet") for i in (0, 1))
    print(f"\nthe README's first command on {limit} puzzles (`ptrm {' '.join(FIRST_COMMAND)}`), "
          f"{rounds} rounds, each checkout in turn:")
    print("| code | wall s (median) | CPU s (median) | walls | CPU s |\n|---|---|---|---|---|")
    for name, values in runs.items():
        walls, cpus = zip(*values)
        print(f"| {name} | {statistics.median(walls):.0f} | {statistics.median(cpus):.0f} | "
              f"{', '.join(f'{w:.0f}' for w in walls)} | {', '.join(f'{c:.0f}' for c in cpus)} |")
    (new_w, new_c), (old_w, old_c) = (list(zip(*v)) for v in runs.values())
    print(f"speed-up, median of rounds: wall {median_ratio(old_w, new_w):.2f}x, CPU {median_ratio(old_c, new_c):.2f}x; "
          f"records {'identical' if new_rec.equals(old_rec) else 'DIFFER'} ({len(new_rec)} rows)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="results/checkpoints/sudoku.pt")
    ap.add_argument("--rows", type=int, default=256, help="rollouts per timed batch (0: no step timings)")
    ap.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    ap.add_argument("--profile", action="store_true", help="the in-place step's time by op, at --rows")
    ap.add_argument("--buffers", help="rollout counts to time the step with its per-step buffers against fresh "
                                      "outputs at, e.g. 64,256")
    ap.add_argument("--memory-puzzles", default="8,512", help="puzzle counts for the memory check (K=64)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time the step in wall seconds, or in this process's CPU seconds (steadier on a busy "
                         "machine with --threads 1)")
    ap.add_argument("--chunks", help="chunk sizes to time the first command's search at, e.g. 512,128,64,32")
    ap.add_argument("--against", type=Path, help="a checkout of older code: run the README's first command "
                                                "in both, in turn")
    ap.add_argument("--limit", type=int, default=24, help="puzzles of the first command (--chunks, --against)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each chunk size or checkout (--chunks, --against)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    ck = load_checkpoint(args.ckpt)
    pset = ck.test_set()
    device = ck.model.device
    dtypes = [torch.float32] + ([torch.bfloat16] if hardware.auto_dtype(device)[0] == torch.bfloat16 else [])
    print(hardware.describe())
    print(f"checkpoint {args.ckpt}: {ck.model.num_params():,} params, "
          f"{metrics.flops_per_step(ck.cfg) / 1e9:.2f} GFLOP per rollout-step, {args.rows} rollouts per batch\n")
    print(f"step timed by {args.clock} clock, {torch.get_num_threads()} torch threads")
    print("| dtype | step | rollout-steps/s | network GFLOP/s | share of dense matmul | share of shape-matched "
          "matmuls | noise / step | search time outside the network |")
    print("|---|---|---|---|---|---|---|---|")
    rates = {hardware.dtype_name(d): bench_dtype(ck, pset, d, args.rows, args.compile, clock)
             for d in dtypes if args.rows}
    for d in dtypes if args.profile and args.rows else []:
        profile_step(ck, pset, d, args.rows)
    for B in map(int, filter(None, (args.buffers or "").split(","))):
        for d in dtypes:
            buffers_side_by_side(ck, pset, d, B)
    print()
    for name, (dense, matched) in rates.items():
        print(f"{name}: dense matmul 2048^2 {dense / 1e9:.0f} GFLOP/s, the step's own matmul shapes "
              f"{matched / 1e9:.0f} GFLOP/s")
    print("\npeak resident memory of a whole search (K=64, chunk 256, auto dtype), fresh process each:")
    for n in map(int, filter(None, args.memory_puzzles.split(","))):
        print(f"  {n:5d} puzzles x 64 rollouts: {peak_rss_mb(args.ckpt, n, 64, 256, 'auto'):.0f} MB")
    for d in dtypes if args.chunks else []:
        chunk_sizes(ck, pset, [int(c) for c in args.chunks.split(",")], args.limit, args.rounds, d)
    if args.against:
        side_by_side(args.against, args.ckpt, args.limit, args.rounds)


if __name__ == "__main__":
    main()
