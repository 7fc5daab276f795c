"""Sudoku generator speed on one core: puzzles/second, clue counts and ratings per difficulty setting.

    python benchmarks/bench_generator.py [--n 10000]
"""
import argparse
import time

from ptrm.tasks import sudoku

SETTINGS = {
    "minimal (default)": dict(),
    "minimal, >= 1 guess": dict(min_guesses=1),
    "25-40 clues": dict(min_clues=25, max_clues=40),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="puzzles per setting")
    args = parser.parse_args()
    sudoku.generate(1, seed=0)  # compile (or load numba's cache) outside the timing
    for name, kwargs in SETTINGS.items():
        start = time.perf_counter()
        puzzles, _, ratings = sudoku.generate(args.n, seed=0, **kwargs)
        seconds = time.perf_counter() - start
        clues = (puzzles > 0).sum(axis=1)
        print(f"{name:22s} {args.n / seconds:7.0f} puzzles/s  clues {clues.min()}-{clues.max()} "
              f"(mean {clues.mean():.1f})  guesses mean {ratings.mean():.1f}, "
              f"{100 * (ratings > 0).mean():.0f}% need one")


if __name__ == "__main__":
    main()
