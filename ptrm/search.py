"""PTRM search (Sghaier et al. 2026, Algorithm 1): K noisy rollouts per puzzle, one record per rollout.

    for each puzzle p and rollout k = 0..K-1, independently:
        (zH, zL) = initial carry
        for t in 1..D:
            zL += sigma * eps_t          # eps_t ~ N(0, I); noise on the latent z (official zL)
            (zH, zL), logits, q = supervision_step(x_p, zH, zL)
        record: final answer argmax(logits), final q_halt, correctness, verified (the task's rules accept it)

eps_t of rollout (p, k) is `ptrm.noise.gaussian(seed, p, k, step=t - 1, stream)` (stream 0 for z, 1 for y):
a pure function of those integers, computed on the rollouts' device. So a record depends only on
(checkpoint, puzzle, seed, k, sigma, D, noise target): never on the order of work or how the work is split
over Ray actors, and in fp32 on the chunk size only in the last bits (on MKL with AVX-512, a step of 1 or 4-15
rollouts rounds differently from a larger batch). (In bf16, math libraries pick their matmul kernel by shape;
on AMX CPUs an item of only a few rollouts rounds differently from a large one, so bf16 records are
bit-identical for a given chunk size, and agree up to bf16 rounding across chunk sizes.)
Rollouts are batched through the network in work items of at most `chunk_size` rows; only one item's states
are ever in memory.

Adaptive compute (ptrm.adaptive; off by default, fixed D is the paper's method): halt_q and settle stop a
rollout early, stop_q all of a puzzle's rollouts once one is confident. Each step runs the network on the
rollouts still running only (stopped ones leave the batch), a stopped rollout's record is its state at the
step it stopped, and the `steps` column says how many steps each rollout ran (what its FLOPs are counted
from). stop_q decides per puzzle, so its items hold whole puzzles (see `work_items`). A rollout's values do
not depend on when the others stop except, through the batch's shape, in rounding: records stay identical
across workers, and across chunk sizes up to the rounding above (a stop can move only where a q_halt lies within
that rounding of its threshold).
"""
import hashlib
import math
from dataclasses import asdict, dataclass, fields
from typing import get_args

import numpy as np
import pandas as pd
import torch

from ptrm import adaptive, noise, population, tasks
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.plan import ExecutionPlan
from ptrm.puzzles import PuzzleSet, exact_and_cell

NOISE_TARGETS = ("z", "y", "both")
SIGMA_SCALES = ("absolute", "relative")  # sigma as is, or times the perturbed state's RMS per token
DTYPES = ("auto", "float32", "bfloat16")  # activation dtypes; auto = bf16 where the hardware computes it
MODES = ("independent", "population", "waves")  # K independent rollouts | ptrm.population | ptrm.waves


@dataclass(frozen=True)
class SearchConfig:
    K: int = 64                 # rollouts per puzzle (width)
    sigma: float = 0.1          # std of the Gaussian noise added before every supervision step (absolute)
    D: int | None = None        # supervision steps (depth); None = the checkpoint's N_sup
    noise_on: str = "z"         # "z" (official zL, the paper's choice) | "y" (zH) | "both"
    sigma_scale: str = "absolute"  # "absolute" (the paper's reading) | "relative": sigma x RMS of the state per token
    seed: int = 0
    chunk_size: int | None = None  # rollouts per forward batch (speed and memory, never results); None: see ptrm.plan
    per_step: bool = False      # also record q_halt and correctness after every step
    dtype: str = "auto"         # activation dtype: "auto" (bf16 where native, else fp32) | "float32" | "bfloat16"
    # Adaptive compute (ptrm.adaptive), off by default: a rollout may stop before D steps.
    halt_q: float | None = None  # stop a rollout after the first step whose q_halt >= halt_q
    settle: int = 0             # stop a rollout once its answer is unchanged for this many steps (0: never)
    stop_q: float | None = None  # stop all of a puzzle's rollouts once one has q_halt >= stop_q
    give_up_q: float | None = None  # stop a rollout whose q_halt <= give_up_q at step >= give_up_step
    give_up_step: int = 8       # (1-based) the first step at which a rollout may give up: half of N_sup = 16
    # Beyond independent rollouts (off by default): population search (ptrm.population), adaptive width (ptrm.waves).
    mode: str = "independent"   # "independent" | "population" (K particles resampled by Q) | "waves" (K: the cap)
    temperature: float = 1.0    # population: particles are resampled with weights softmax(q_halt / temperature)
    resampling: str = "systematic"  # population: "systematic" | "residual"
    k0: int = 16                # waves: K0, rollouts per puzzle in each wave
    q_threshold: float = 1.0    # waves: a puzzle gets another wave while its best q_halt is below this
    budget: int | None = None   # waves: rollout-steps for the whole run (None: only the cap K limits the waves)

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
        if self.sigma_scale not in SIGMA_SCALES:
            raise PtrmError(f"--sigma-scale must be one of {', '.join(SIGMA_SCALES)}, got {self.sigma_scale!r}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise PtrmError(f"--chunk-size must be >= 1, got {self.chunk_size}")
        if self.dtype not in DTYPES:
            raise PtrmError(f"--dtype must be {' or '.join(DTYPES)}, got {self.dtype!r}")
        if self.settle < 0:
            raise PtrmError(f"--settle must be >= 0, got {self.settle}")
        if self.give_up_step < 1:
            raise PtrmError(f"--give-up-step must be >= 1, got {self.give_up_step}")
        if self.mode not in MODES:
            raise PtrmError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.temperature > 0:
            raise PtrmError(f"--temperature must be > 0, got {self.temperature}")
        if self.resampling not in population.RESAMPLING:
            raise PtrmError(f"--resampling must be one of {', '.join(population.RESAMPLING)}, got {self.resampling!r}")
        if self.mode == "waves":
            if not 1 <= self.k0 <= self.K:
                raise PtrmError(f"--k0 must lie in 1..K={self.K} (the cap on rollouts per puzzle), got {self.k0}")
            if self.stop_q is not None:  # it stops a puzzle's rollouts together, so a wave would change them
                raise PtrmError("--stop-q cannot be used with --mode waves (use --halt-q, --settle, --give-up-q)")
        if self.budget is not None and self.mode != "waves":
            raise PtrmError(f"--budget applies to --mode waves only (mode {self.mode} runs K x D rollout-steps)")
        return self

    @property
    def adaptive(self) -> bool:
        """Whether a stopping rule is on (else every rollout runs D steps)."""
        return self.halt_q is not None or self.settle > 0 or self.stop_q is not None or self.give_up_q is not None

    @property
    def whole_puzzles(self) -> bool:
        """Whether a work item must hold all K rollouts of its puzzles (stop_q and resampling decide per puzzle)."""
        return self.stop_q is not None or self.mode == "population"

    @property
    def first_width(self) -> int:
        """Rollouts per puzzle of the first work items: K, or K0 for adaptive width (ptrm.waves adds the rest)."""
        return self.k0 if self.mode == "waves" else self.K

    @property
    def rule(self) -> dict:
        """The stopping rule's settings, as ptrm.adaptive.stops and replay_adaptive take them."""
        return {"halt_q": self.halt_q, "settle": self.settle, "stop_q": self.stop_q,
                "give_up_q": self.give_up_q, "give_up_step": self.give_up_step}

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


def work_items(n_puzzles: int, K: int, chunk_size: int, whole_puzzles: bool = False) -> list[WorkItem]:
    """Split n_puzzles x K rollouts into items of at most chunk_size rows (at least one rollout each).

    With whole_puzzles (what stop_q needs: it stops a puzzle's rollouts together, so they must run in one
    item), every item holds all K rollouts of its puzzles: chunk_size only groups puzzles, and an item is
    one puzzle's K rollouts when K > chunk_size.
    """
    k_step = K if whole_puzzles else min(K, chunk_size)
    p_step = max(1, chunk_size // k_step)
    return [WorkItem(p, min(p + p_step, n_puzzles), k, min(k + k_step, K))
            for p in range(0, n_puzzles, p_step) for k in range(0, K, k_step)]


def add_noise(zH: torch.Tensor, zL: torch.Tensor, cfg: SearchConfig, puzzles: torch.Tensor, ks: torch.Tensor,
              step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The carry before supervision step `step` (0-based) of rollouts (puzzles[b], ks[b]): sigma * eps added
    to zL (noise on z, stream 0) and/or zH (noise on y, stream 1), in the activations' dtype.

    With sigma_scale "relative" the noise on a token is sigma times that token's RMS in the state it perturbs,
    so one sigma means the same signal-to-noise ratio in models whose states have different scales (the
    carried zL is a sum of block outputs, not RMS-normalised; its scale varies between checkpoints).
    """
    def perturb(state, stream):
        g = noise.gaussian(cfg.seed, puzzles, ks, step, stream, state.shape[1:], device=state.device)
        scale = cfg.sigma
        if cfg.sigma_scale == "relative":
            scale = cfg.sigma * state.float().pow(2).mean(-1, keepdim=True).sqrt()
        return state + (scale * g).to(state.dtype)
    if cfg.noise_on in ("z", "both"):
        zL = perturb(zL, 0)
    if cfg.noise_on in ("y", "both"):
        zH = perturb(zH, 1)
    return zH, zL


def answer_hash(preds: np.ndarray) -> np.ndarray:
    """A stable 63-bit hash per answer row (equal answers, equal hash) for voting."""
    rows = np.ascontiguousarray(preds.astype(np.int16))
    return np.array([int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") >> 1
                     for r in rows], dtype=np.int64)


@torch.inference_mode()
def run_work_item(model: TRM, pset: PuzzleSet, item: WorkItem, cfg: SearchConfig, plan: ExecutionPlan,
                  observe=None, on_step=None) -> pd.DataFrame:
    """Run one work item in the plan's dtype; returns its records.

    Every rollout runs D steps, or fewer where a stopping rule stops it; each step runs the network on the
    running rollouts only, and the state of every rollout (answer, q_halt, steps run) is kept here.
    `observe(t, rows, (zH, zL), logits, q)`, if given, sees every step t (0-based) of the item's rows still
    running (indices into the item's rollouts, puzzle-major): what the records do not keep (states, logits).
    `on_step(rows)`, if given, hears of every supervision step and how many rollouts it ran (progress).
    """
    if cfg.whole_puzzles and (item.k0, item.k1) != (0, cfg.K):
        raise PtrmError(f"{'stop_q' if cfg.stop_q is not None else 'population search'} needs all K={cfg.K} "
                        f"rollouts of a puzzle in one item, got k {item.k0}..{item.k1}")
    device = model.device
    dtype = plan.dtype
    D = cfg.D or model.cfg.halt_max_steps  # D: supervision steps
    puzzles = np.repeat(np.arange(item.p0, item.p1), item.k1 - item.k0)
    ks = np.tile(np.arange(item.k0, item.k1), item.p1 - item.p0)
    n = len(puzzles)
    inputs = torch.from_numpy(pset.inputs[puzzles]).to(device)
    pids = torch.from_numpy(pset.puzzle_identifiers[puzzles]).to(device)
    x = model.input_embeddings(inputs, pids, dtype)
    zH, zL = (c.to(device) for c in model.initial_carry(n, dtype))
    rollouts = torch.from_numpy(puzzles).to(device), torch.from_numpy(ks).to(device)  # the noise's counters
    labels = pset.labels[puzzles]
    # State of every rollout of the item, row i = rollout i; `running` lists the rows still in the batch.
    running = np.arange(n)
    preds = np.zeros(labels.shape, dtype=np.int64)
    q_halt = np.zeros(n, dtype=np.float32)
    steps = np.zeros(n, dtype=np.int32)
    unchanged = np.zeros(n, dtype=np.int64)   # steps since the rollout's answer last changed
    if cfg.per_step:
        q_steps, correct_steps, hash_steps = (np.zeros((n, D), t) for t in (np.float32, bool, np.int64))
    resampler = population.Resampler(cfg, puzzles, ks, D) if cfg.mode == "population" else None
    for t in range(D):
        if resampler and t:  # population search: each running particle continues a parent chosen by Q
            src, at = resampler.resample(t, running, q_halt)
            at = torch.from_numpy(at).to(device)
            zH, zL = zH[at], zL[at]
            for a in [preds, unchanged] + ([q_steps, correct_steps, hash_steps] if cfg.per_step else []):
                a[running] = a[src]
        if cfg.sigma > 0:
            zH, zL = add_noise(zH, zL, cfg, *rollouts, t)
        (zH, zL), logits, q = model.step((zH, zL), x)
        if on_step:
            on_step(len(running))
        if not (cfg.adaptive or cfg.per_step or observe or resampler or t == D - 1):
            continue  # nothing reads this step's outputs: leave them on the device
        answer, q = logits.argmax(-1).cpu().numpy(), q.cpu().numpy()
        if t:
            same = (answer == preds[running]).all(-1)
            unchanged[running] = np.where(same, unchanged[running] + 1, 0)
        preds[running], q_halt[running], steps[running] = answer, q, t + 1
        if cfg.per_step:
            q_steps[running, t] = q
            correct_steps[running, t] = exact_and_cell(answer, labels[running])[0]
            hash_steps[running, t] = answer_hash(answer)
        if observe:
            observe(t, running, (zH, zL), logits, q)
        stop = adaptive.stops(q, unchanged[running], puzzles[running], t + 1, **cfg.rule)
        if stop.any():  # stopped rollouts leave the batch
            keep = torch.from_numpy(np.flatnonzero(~stop)).to(device)
            running = running[~stop]
            x, zH, zL = x[keep], zH[keep], zL[keep]
            rollouts = tuple(r[keep] for r in rollouts)
            if not len(running):
                break
    task = tasks.get(pset.task)
    correct, cell = exact_and_cell(preds, labels)
    records = pd.DataFrame({"puzzle": puzzles, "k": ks, "q_halt": q_halt.astype(np.float64), "correct": correct,
                            "cell_acc": cell, "answer_hash": answer_hash(preds), "steps": steps,
                            "verified": task.verify(pset.inputs[puzzles], preds)})
    if pset.rows is not None:  # the task's own columns (ARC: official correctness, the answer in the task's frame)
        records = records.assign(**task.record_columns(preds, labels, pset.rows.iloc[puzzles]))
    if cfg.per_step:  # after its stop, a rollout's per-step values repeat those of its last step
        upto = np.minimum(np.arange(D), steps[:, None] - 1)
        records["q_steps"] = list(np.take_along_axis(q_steps, upto, 1))
        records["correct_steps"] = list(np.take_along_axis(correct_steps, upto, 1))
        records["hash_steps"] = list(np.take_along_axis(hash_steps, upto, 1))
    if resampler:
        records["parents"] = list(resampler.parents)
    return records


class LastStep:
    """An observer of one work item (see run_work_item) that keeps, per rollout, the answer and the zH of token 0
    (the Q head's input) after the last step it ran; rows in the item's order."""

    def __init__(self):
        self.answers = self.states = None

    def __call__(self, t, rows, carry, logits, q):
        answer, state = logits.argmax(-1).cpu().numpy(), carry[0][:, 0].float().cpu().numpy()
        if self.answers is None:  # the first step: every rollout runs
            self.answers, self.states = np.zeros_like(answer), np.zeros_like(state)
        self.answers[rows], self.states[rows] = answer, state


def sort_records(records: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order, so records from any backend or chunking compare equal."""
    return records.sort_values(["puzzle", "k"], kind="stable").reset_index(drop=True)
