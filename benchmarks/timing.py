"""The one timing rule of the benchmarks: the median of `repeats` calls after one warm-up call."""
import statistics
import time

import torch


def _sync():
    # CUDA kernels run asynchronously: without a sync a timer measures only their launch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_seconds(fn, repeats=3) -> float:
    fn()  # warm-up: first calls pay for allocation, thread-pool start-up and kernel selection
    _sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
