"""The one timing rule of the benchmarks: the median of `repeats` calls after one warm-up call."""
import statistics
import time


def median_seconds(fn, repeats=3) -> float:
    fn()  # warm-up: first calls pay for allocation, thread-pool start-up and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
