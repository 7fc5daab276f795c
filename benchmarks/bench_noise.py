"""Noise for one supervision step: ptrm.noise.gaussian against one torch.Generator per rollout.

    python benchmarks/bench_noise.py [--rollouts 512] [--threads N] [--repeats 5]

Times one call (one stream, z or y) for rollouts x (97 tokens x hidden), hidden 128 and 512: the
median of --repeats calls after a warm-up. The old scheme (ptrm.search.NoiseSource.draw before
ptrm.noise replaced it) is kept here for the comparison: a CPU generator per rollout seeded by
rollout_seed(seed, puzzle, k), then torch.stack of per-rollout torch.randn.
"""
import argparse

import numpy as np
import torch

from ptrm import hardware
from ptrm.noise import GENERATOR, gaussian
from timing import median_seconds


def rollout_seed(seed: int, puzzle: int, k: int) -> int:   # the old ptrm.search.rollout_seed
    return int(np.random.SeedSequence([seed, puzzle, k]).generate_state(1, np.uint64)[0])


class NoiseSource:                                           # the old ptrm.search.NoiseSource
    def __init__(self, seeds, shape):
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.shape = shape

    def draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.gens])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(hardware.describe())
    print(f"generator: {GENERATOR}  (median of {args.repeats})")
    puzzles = torch.arange(args.rollouts) // 64           # 64 rollouts per puzzle
    ks = torch.arange(args.rollouts) % 64
    step = 0
    print(f"{'rollouts x shape':>24s} {'counter (new)':>14s} {'Generator/rollout (old)':>24s} {'new/old':>8s}")
    for hidden in (128, 512):
        shape = (97, hidden)
        old = NoiseSource([rollout_seed(0, int(p), int(k)) for p, k in zip(puzzles, ks)], shape)

        def new():
            gaussian(0, puzzles, ks, step, 0, shape)
        t_new, t_old = median_seconds(new, args.repeats), median_seconds(old.draw, args.repeats)
        print(f"{f'{args.rollouts} x {shape}':>24s} {1e3 * t_new:11.1f} ms {1e3 * t_old:21.1f} ms "
              f"{t_new / t_old:8.2f}")


if __name__ == "__main__":
    main()
