"""The timing rules of the benchmarks: the median of `repeats` calls after one warm-up call; and, for figures
compared with each other on a busy machine, the calls interleaved (A B A B ...) with the median of per-round
ratios, so a load that comes and goes hits both sides alike."""
import statistics
import time

import torch


def _sync():
    # CUDA kernels run asynchronously: without a sync a timer measures only their launch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_seconds(fn, repeats=3, clock=time.perf_counter) -> float:
    fn()  # warm-up: first calls pay for allocation, thread-pool start-up and kernel selection
    _sync()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        _sync()
        times.append(clock() - start)
    return statistics.median(times)


def interleaved_seconds(fns: dict, repeats=5, clock=time.perf_counter) -> dict:
    """{name: [seconds per round]} of the functions called in turn, round after round, after one warm-up each.

    clock: time.perf_counter (wall) or time.process_time (this process's CPU time: steadier under other
    load with one thread; with more it also counts the threads' spinning)."""
    for fn in fns.values():
        fn()
    _sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            _sync()
            times[name].append(clock() - start)
    return times


def median_ratio(a: list, b: list) -> float:
    """The median over rounds of a[i] / b[i]."""
    return statistics.median(x / y for x, y in zip(a, b))
