"""PTRM search (Sghaier et al. 2026, Algorithm 1): K noisy rollouts per puzzle, one record per rollout.

    for each puzzle p and rollout k = 0..K-1, independently:
        (zH, zL) = initial carry
        for t in 1..D:
            zL += sigma * eps_t          # eps_t ~ N(0, I); noise on the latent z (official zL)
            (zH, zL), logits, q = supervision_step(x_p, zH, zL)
        record: final answer argmax(logits), final q_halt, correctness

The noise of rollout (p, k) is drawn on the CPU from its own generator seeded by (seed, p, k), so a
record depends only on (checkpoint, puzzle, seed, k, sigma, D, noise target): never on the order of work or
how the work is split over Ray actors, and in fp32 never on the chunk size. (In bf16, math libraries pick
their matmul kernel by shape; on AMX CPUs an item of only a few rollouts rounds differently from a large one,
so bf16 records are bit-identical for a given chunk size, and agree up to bf16 rounding across chunk sizes.)
Rollouts are batched through the network in work items of at most `chunk_size` rows; only one item's states
are ever in memory.
"""
import hashlib
import math
from dataclasses import asdict, dataclass, fields
from typing import get_args

import numpy as np
import pandas as pd
import torch

from ptrm import hardware
from ptrm.data import PuzzleSet
from ptrm.errors import PtrmError
from ptrm.evaluate import exact_and_cell
from ptrm.model import TRM

NOISE_TARGETS = ("z", "y", "both")
DTYPES = ("auto", "float32", "bfloat16")  # activation dtypes; auto = bf16 where the hardware computes it


@dataclass(frozen=True)
class SearchConfig:
    K: int = 64                 # rollouts per puzzle (width)
    sigma: float = 0.1          # std of the Gaussian noise added before every supervision step (absolute)
    D: int | None = None        # supervision steps (depth); None = the checkpoint's N_sup
    noise_on: str = "z"         # "z" (official zL, the paper's choice) | "y" (zH) | "both"
    seed: int = 0
    chunk_size: int = 512       # rollouts per forward batch; changes speed and memory, never results
    per_step: bool = False      # also record q_halt and correctness after every step
    dtype: str = "auto"         # activation dtype: "auto" (bf16 where native, else fp32) | "float32" | "bfloat16"

    def validate(self) -> "SearchConfig":
        # Every number by its declared type first, so a field added later (a threshold, a rate) is refused
        # when it is NaN, infinite or of the wrong type without a line of its own here.
        for f in fields(self):
            value, kinds = getattr(self, f.name), get_args(f.type) or (f.type,)
            if value is None and type(None) in kinds:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if float in kinds and not (number and math.isfinite(value)):
                raise PtrmError(f"{_flag(f.name)} must be a finite number, got {value!r}")
            if int in kinds and float not in kinds and not (number and isinstance(value, int)):
                raise PtrmError(f"{_flag(f.name)} must be an integer, got {value!r}")
        if self.K < 1:
            raise PtrmError(f"--samples must be >= 1, got {self.K}")
        if not self.sigma >= 0:  # also rejects NaN
            raise PtrmError(f"--sigma must be >= 0, got {self.sigma}")
        if self.D is not None and self.D < 1:
            raise PtrmError(f"--steps must be >= 1, got {self.D}")
        if self.noise_on not in NOISE_TARGETS:
            raise PtrmError(f"--noise-on must be one of {', '.join(NOISE_TARGETS)}, got {self.noise_on!r}")
        if self.chunk_size < 1:
            raise PtrmError(f"--chunk-size must be >= 1, got {self.chunk_size}")
        if self.dtype not in DTYPES:
            raise PtrmError(f"--dtype must be {' or '.join(DTYPES)}, got {self.dtype!r}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _flag(name: str) -> str:
    """The command-line flag of a SearchConfig field, for error messages (the CLI's names where they differ)."""
    return {"K": "--samples", "D": "--steps"}.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class WorkItem:
    """A rectangle of rollouts: puzzles [p0, p1) x rollout indices [k0, k1)."""
    p0: int
    p1: int
    k0: int
    k1: int

    @property
    def size(self) -> int:
        return (self.p1 - self.p0) * (self.k1 - self.k0)


def work_items(n_puzzles: int, K: int, chunk_size: int) -> list[WorkItem]:
    """Split n_puzzles x K rollouts into items of at most chunk_size rows (at least one rollout each)."""
    k_step = min(K, chunk_size)
    p_step = max(1, chunk_size // k_step)
    return [WorkItem(p, min(p + p_step, n_puzzles), k, min(k + k_step, K))
            for p in range(0, n_puzzles, p_step) for k in range(0, K, k_step)]


def rollout_seed(seed: int, puzzle: int, k: int) -> int:
    """A 64-bit seed from (seed, puzzle id, rollout index): independent streams, no shared state."""
    return int(np.random.SeedSequence([seed, puzzle, k]).generate_state(1, np.uint64)[0])


class NoiseSource:
    """One CPU generator per rollout; step t's noise is the t-th draw of that generator."""

    def __init__(self, seeds, shape):
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.shape = shape

    def draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.gens])


def answer_hash(preds: np.ndarray) -> np.ndarray:
    """A stable 63-bit hash per answer row (equal answers, equal hash) for voting."""
    rows = np.ascontiguousarray(preds.astype(np.int16))
    return np.array([int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") >> 1
                     for r in rows], dtype=np.int64)


@torch.inference_mode()
def run_item(model: TRM, pset: PuzzleSet, item: WorkItem, cfg: SearchConfig,
             return_states: bool = False) -> pd.DataFrame:
    """Run one work item; returns its records (and, if asked, the final zH per rollout in `.attrs`)."""
    device = model.device
    dtype = hardware.resolve_dtype(cfg.dtype, device)[0]
    D = cfg.D or model.cfg.halt_max_steps  # D: supervision steps
    puzzles = np.repeat(np.arange(item.p0, item.p1), item.k1 - item.k0)
    ks = np.tile(np.arange(item.k0, item.k1), item.p1 - item.p0)
    inputs = torch.from_numpy(pset.inputs[puzzles]).to(device)
    pids = torch.from_numpy(pset.puzzle_identifiers[puzzles]).to(device)
    x = model.input_embeddings(inputs, pids, dtype)
    zH, zL = (c.to(device) for c in model.initial_carry(len(puzzles), dtype))
    noise = None
    if cfg.sigma > 0:
        shape = (model.cfg.total_len, model.cfg.hidden_size)
        noise = NoiseSource([rollout_seed(cfg.seed, int(p), int(k)) for p, k in zip(puzzles, ks)], shape)
    labels = pset.labels[puzzles]
    q_steps, correct_steps = [], []
    for _ in range(D):
        if noise is not None:  # draw order per step is fixed: z first, then y
            if cfg.noise_on in ("z", "both"):
                zL = zL + (cfg.sigma * noise.draw()).to(device, dtype)
            if cfg.noise_on in ("y", "both"):
                zH = zH + (cfg.sigma * noise.draw()).to(device, dtype)
        (zH, zL), logits, q = model.step((zH, zL), x)
        if cfg.per_step:
            q_steps.append(q.cpu().numpy())
            correct_steps.append(exact_and_cell(logits.argmax(-1).cpu().numpy(), labels)[0])
    preds = logits.argmax(-1).cpu().numpy()
    correct, cell = exact_and_cell(preds, labels)
    records = pd.DataFrame({"puzzle": puzzles, "k": ks, "q_halt": q.cpu().numpy().astype(np.float64),
                            "correct": correct, "cell_acc": cell, "answer_hash": answer_hash(preds)})
    if cfg.per_step:
        records["q_steps"] = list(np.stack(q_steps, 1).astype(np.float32))
        records["correct_steps"] = list(np.stack(correct_steps, 1))
    if return_states:
        records.attrs["zH"] = zH[:, 0].float().cpu().numpy()  # the Q head's input token
        records.attrs["preds"] = preds
    return records


def sort_records(records: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order, so records from any backend or chunking compare equal."""
    return records.sort_values(["puzzle", "k"], kind="stable").reset_index(drop=True)
