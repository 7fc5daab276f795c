"""Population search: a puzzle's K rollouts are particles, reweighted by their Q and resampled between steps.

PTRM's rollouts are independent; here (sequential Monte Carlo over the latent trajectories, as in Corbett et
al. 2026) the Q head steers the search while it runs:

    for t in 1..D:
        if t > 1: resample the puzzle's running particles with weights softmax(q_halt / temperature):
                  slot j continues the state (zH, zL) of parent a_t[j]
        zL += sigma * eps_t(slot j)        # the noise of slot j at step t, as in ptrm.search
        (zH, zL), logits, q = supervision_step(x, zH, zL)

A particle that a stopping rule (ptrm.adaptive) has stopped keeps its place: it is neither a parent nor
replaced. Resampling uses one uniform u per (seed, puzzle, step) (ptrm.noise, stream 2), and the noise is still
that of (seed, puzzle, slot, step), so a population run is a pure function of its puzzle's particles: all of a
puzzle's particles run in one work item, and records are identical across chunk sizes and workers.

Records gain `parents`: per particle, a [D] array whose entry t is the slot whose state the particle took
before step t + 1 (its own slot at step 1, and after it stopped). Following parents back from the last step
gives a particle's ancestry, and with the noise function it replays the run. The per-step columns
(--per-step) follow the ancestry: a particle's q_steps are those of the trajectory that led to its state.

Resampling schemes (both leave the expected number of copies of a particle at K * w):
    systematic  K positions (u + j) / K on the weights' cumulative sum
    residual    floor(K * w) copies of each particle, the rest systematic on the residual weights
A particle's copies fill consecutive slots in slot order.

Independent particles these are not: the @k estimators of ptrm.metrics (random k-subsets of K independent
rollouts) do not apply; the selection over all K (best-Q@K, mode@K) does, and its spread comes from seeds.
"""
import numpy as np
import torch
from scipy.special import softmax

from ptrm import noise

RESAMPLING = ("systematic", "residual")
STREAM = 2  # the noise stream of the resampling uniforms (0 and 1 perturb z and y)


def uniforms(seed: int, puzzles: np.ndarray, step: int) -> np.ndarray:
    """One uniform in (0, 1) per puzzle for the resampling before `step` (0-based): a pure function of
    (seed, puzzle, step)."""
    w = noise.words(seed, torch.as_tensor(puzzles), torch.zeros(len(puzzles), dtype=torch.int64), step, STREAM, 1)
    return (w[:, 0].numpy().astype(np.float64) + 0.5) / 2.0 ** 32


def systematic(weights: np.ndarray, u: float, m: int) -> np.ndarray:
    """m draws (ascending indices) from the normalised `weights` at positions (u + j) / m."""
    edges = np.cumsum(weights / weights.sum())
    edges[-1] = 1.0
    return np.minimum(np.searchsorted(edges, (u + np.arange(m)) / m, side="right"), len(weights) - 1)


def resample(weights: np.ndarray, u: float, scheme: str) -> np.ndarray:
    """len(weights) parent indices, ascending, by `scheme` ("systematic" or "residual") with the uniform u."""
    n = len(weights)
    if scheme == "systematic":
        return systematic(weights, u, n)
    expected = n * weights / weights.sum()
    copies = np.floor(expected).astype(np.int64)
    rest = n - int(copies.sum())
    fixed = np.repeat(np.arange(n), copies)
    if rest == 0:
        return fixed
    return np.sort(np.concatenate([fixed, systematic(expected - copies, u, rest)]), kind="stable")


class Resampler:
    """The resampling of one work item's particles (rows = (puzzles[i], ks[i]), whole puzzles) and its lineage."""

    def __init__(self, cfg, puzzles: np.ndarray, ks: np.ndarray, D: int):
        self.cfg, self.puzzles = cfg, puzzles
        self.parents = np.repeat(ks[:, None], D, axis=1).astype(np.int32)  # [rows, D]: own slot unless resampled
        self.ks = ks

    def resample(self, step: int, running: np.ndarray, q_halt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Before `step` (0-based, >= 1): the row each running row continues (`src`, rows of the item) and that
        row's position in the batch of running rows (`at`, to gather the states)."""
        src = running.copy()
        ids = self.puzzles[running]
        puzzles = np.unique(ids)
        for p, u in zip(puzzles, uniforms(self.cfg.seed, puzzles, step)):
            rows = running[ids == p]
            weights = softmax(q_halt[rows].astype(np.float64) / self.cfg.temperature)
            src[ids == p] = rows[resample(weights, u, self.cfg.resampling)]
        self.parents[running, step] = self.ks[src]
        return src, np.searchsorted(running, src)


def ancestry(parents: np.ndarray) -> np.ndarray:
    """[K, D] slots: entry (j, t) is the slot whose trajectory particle j's state was in after step t + 1
    (the last column is j itself), from one puzzle's `parents` ([K, D], rows by slot)."""
    K, D = parents.shape
    out = np.empty((K, D), dtype=np.int64)
    out[:, -1] = np.arange(K)
    for t in range(D - 1, 0, -1):
        out[:, t - 1] = parents[out[:, t], t]
    return out
