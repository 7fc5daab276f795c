"""Deep-supervision training of a TRM, following the official loop.

A batch is a set of B live rows, each a puzzle part-way through its N_sup supervision steps with its own
carry (zH, zL). Every iteration runs ONE supervision step on all rows, takes the loss
  cross entropy (softmax or stable-max) + 0.5 * BCE(q_halt, answer exactly right)
and makes an optimizer step. Rows that halt (q_halt > 0, or N_sup steps done; with exploration a row may
be forced to run at least 2..N_sup steps) are replaced by fresh augmented puzzles with a fresh carry. This
keeps the Q head trained on the true correctness of the answers the model actually reaches.

The weights saved are an EMA copy. The resume state in the output folder is rewritten every few minutes;
`--resume` continues from it (rows in flight restart from a fresh carry, which costs nothing measurable).
It is three files, each small enough to commit (< 5 MB at the shipped size), so a run can continue in another
session on another machine: `resume.pt` (step, curve, RNG states, weights), `resume-ema.pt` (EMA weights) and
`resume-adam.pt` (AdamW moments). The moments are optional: with beta2 = 0.95 they forget in ~20 steps, so a
resume without them restarts AdamW's moment estimates (bias-corrected) and says so.
"""
import contextlib
import copy
import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from ptrm import hardware, tasks
from ptrm.checkpoint import atomic_save, pack_test_set, read_file, save_checkpoint
from ptrm.data import load_puzzles
from ptrm.errors import PtrmError
from ptrm.evaluate import evaluate
from ptrm.plan import ExecutionPlan
from ptrm.io import atomic_write
from ptrm.model import TRM, TRMConfig
from ptrm.plots import learning_curve
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet


@dataclass
class TrainConfig:
    train_data: str = ""              # dataset path (official layout or CSV)
    test_data: str = ""               # held-out puzzles; the first `test_limit` ship inside the checkpoint
    out: str = "runs/train"
    model: dict = field(default_factory=dict)  # TRMConfig fields; vocab/seq_len come from the data
    batch_size: int = 256             # live rows per optimizer step
    lr: float = 1e-3
    lr_warmup_steps: int = 200
    lr_schedule: str = "constant"     # "constant" | "cosine" (cosine decays to lr * lr_min_ratio by max_steps)
    lr_min_ratio: float = 0.1
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0            # 0 disables; small CPU batches are noisier than the official 768
    loss: str = "softmax"             # "softmax" | "stablemax"
    q_loss_weight: float = 0.5
    halt_exploration_prob: float = 0.1
    ema_rate: float = 0.999
    augment: bool = True              # fresh augmentation per draw, where the task has one (Task.augment)
    max_steps: int = 0                # optimizer steps; 0 = only the time limit
    max_minutes: float = 60.0         # wall-clock budget across resumes
    eval_every: int = 500             # optimizer steps between evaluations
    eval_limit: int = 500             # test puzzles used by periodic evaluation
    test_limit: int = 1000            # test puzzles evaluated at the end and shipped in the checkpoint
    checkpoint_minutes: float = 5.0
    snapshot_every: int = 0           # save the EMA weights as a checkpoint every N optimizer steps; 0 = never
    snapshot_dir: str = ""            # where snapshots go ("" = OUT/snapshots); named step-NNNNNN.pt
    dtype: str = "auto"               # activations: "auto" (bf16 where the hardware computes it natively) | "float32" | "bfloat16"
    seed: int = 0
    threads: int = 0                  # torch CPU threads; 0 = all cores

    def validate(self, source) -> "TrainConfig":
        """Types first (YAML reads `1e-3` as a string and `.inf` as a float), then finite numbers and the ranges
        training needs; errors name `source` (the config file) and the key."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), type(f.default) if f.default is not dataclasses.MISSING else dict
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = (number and math.isfinite(value) if kind is float else
                  number and isinstance(value, int) if kind is int else isinstance(value, kind))
            if not ok:
                what = "a finite number" if kind is float else f"a{'n' if kind is int else ''} {kind.__name__}"
                raise PtrmError(f"{source}: {f.name} must be {what}, got {value!r}")
        for key, low, strict in (("batch_size", 1, False), ("lr", 0, True), ("lr_warmup_steps", 0, False),
                                 ("lr_min_ratio", 0, False), ("weight_decay", 0, False), ("grad_clip", 0, False),
                                 ("q_loss_weight", 0, False), ("halt_exploration_prob", 0, False),
                                 ("ema_rate", 0, False), ("max_steps", 0, False), ("max_minutes", 0, True),
                                 ("eval_every", 1, False), ("eval_limit", 1, False), ("test_limit", 1, False),
                                 ("checkpoint_minutes", 0, True), ("snapshot_every", 0, False), ("threads", 0, False)):
            value = getattr(self, key)
            if value < low or strict and value == low:
                raise PtrmError(f"{source}: {key} must be {'>' if strict else '>='} {low}, got {value!r}")
        for key in ("halt_exploration_prob", "ema_rate", "lr_min_ratio"):
            if getattr(self, key) > 1:
                raise PtrmError(f"{source}: {key} must be <= 1, got {getattr(self, key)!r}")
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise PtrmError(f"{source}: betas must be two numbers in [0, 1), got {list(self.betas)!r}")
        if not self.train_data:
            raise PtrmError(f"{source}: train_data is not set (the training set: a dataset folder or CSV)")
        return self


# What a resumed run may change: how long it goes on and how it ends (a constant lr that turns into a cosine
# decay from the step it resumes at), how it reports and where its files go. Every other field (the
# architecture, the data, the optimiser) is the run's own: a resume with another value is refused.
RESUMABLE = {"out", "test_data", "max_steps", "max_minutes", "lr_schedule", "lr_min_ratio", "eval_every",
             "eval_limit", "test_limit", "checkpoint_minutes", "snapshot_every", "snapshot_dir", "threads"}


def check_out(cfg: TrainConfig, resume: bool) -> None:
    """Refuse, before any work, a run that would write over another: a fresh run into a folder holding one, a
    resume without a resume state, or a resume with another architecture, data or optimiser setting."""
    out = Path(cfg.out)
    state, held = out / "resume.pt", [name for name in ("model.pt", "resume.pt") if (out / name).is_file()]
    if not resume:
        if held:
            raise PtrmError(f"{out}: holds a training run ({', '.join(held)}); --resume continues it, or give "
                            f"another out=")
        return
    if not state.is_file():
        raise PtrmError(f"--resume: {state} not found; nothing to continue")
    theirs = _flat(read_file(state).get("train_config", {}))
    ours = _flat(dataclasses.asdict(cfg))
    for key in sorted(theirs.keys() | ours.keys()):
        if key.split(".")[0] not in RESUMABLE and theirs.get(key) != ours.get(key):
            raise PtrmError(f"--resume: {state} is a run with {key} {theirs.get(key)!r}, this config says "
                            f"{ours.get(key)!r}; resume with the same {key}, or give another out=")


def _flat(config: dict) -> dict:
    """{"model": {"hidden_size": 64}, "betas": (0.9, 0.95)} -> {"model.hidden_size": 64, "betas": [0.9, 0.95]}"""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in _flat(value).items()})
        else:
            flat[key] = list(value) if isinstance(value, tuple) else value
    return flat


def load_config(path, overrides=()) -> TrainConfig:
    """YAML file plus `key=value` overrides (`model.hidden_size=256`); unknown keys are errors."""
    try:
        raw = yaml.safe_load(Path(path).read_bytes()) or {}  # bytes: yaml reports bad encodings as YAMLError
    except FileNotFoundError:
        raise PtrmError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise PtrmError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise PtrmError(f"{path}: expected key: value pairs, got a {type(raw).__name__}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise PtrmError(f"override {item!r} is not key=value")
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise PtrmError(f"override {item!r}: {p} is not a section")
        node[leaf] = yaml.safe_load(value)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    model_known = {f.name for f in dataclasses.fields(TRMConfig)}
    for k in raw:
        if k not in known:
            raise PtrmError(f"{path}: unknown config key {k!r}")
    if not isinstance(raw.get("model", {}), dict):
        raise PtrmError(f"{path}: model must be a section of TRMConfig fields, got {raw['model']!r}")
    for k in raw.get("model", {}):
        if k not in model_known:
            raise PtrmError(f"{path}: unknown config key 'model.{k}'")
    if isinstance(raw.get("betas"), list):
        raw["betas"] = tuple(raw["betas"])
    return TrainConfig(**raw).validate(path)


def sequence_loss(logits, labels, kind: str):
    """Per-row mean cross entropy over non-ignored cells. Stable-max replaces exp by s(x) = x+1 (x >= 0)
    or 1/(1-x) (x < 0), the official Sudoku choice, which avoids softmax collapse."""
    logits = logits.float()
    if kind == "stablemax":
        s = torch.where(logits < 0, 1 / (1 - logits + 1e-30), logits + 1)
        logp = torch.log(s / s.sum(-1, keepdim=True))
    elif kind == "softmax":
        logp = F.log_softmax(logits, -1)
    else:
        raise PtrmError(f"loss must be softmax or stablemax, not {kind!r}")
    mask = labels != IGNORE_LABEL
    nll = -logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    return nll.sum(-1) / mask.sum(-1).clamp(min=1)


class PuzzleStream:
    """Endless shuffled epochs over a training set, each draw freshly augmented."""

    def __init__(self, pset: PuzzleSet, augment: bool, rng: np.random.Generator):
        self.pset, self.augment, self.rng = pset, augment, rng
        self.order, self.pos = rng.permutation(len(pset)), 0

    def take(self, n: int):
        idx = []
        while len(idx) < n:
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(len(self.pset)), 0
            m = min(n - len(idx), len(self.order) - self.pos)
            idx.extend(self.order[self.pos:self.pos + m])
            self.pos += m
        inputs, labels = self.pset.inputs[idx], self.pset.labels[idx]
        if self.augment:
            inputs, labels = tasks.get(self.pset.task).augment(inputs, labels, self.rng)
        return inputs, labels, self.pset.puzzle_identifiers[idx]


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.lr_warmup_steps:
        return cfg.lr * (step + 1) / cfg.lr_warmup_steps
    if cfg.lr_schedule == "cosine" and cfg.max_steps > 0:
        progress = min(1.0, (step - cfg.lr_warmup_steps) / max(1, cfg.max_steps - cfg.lr_warmup_steps))
        return cfg.lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
    return cfg.lr


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (kill, `timeout`, a scheduler's preemption) stops training as Ctrl-C does, so the resume state
    is saved; background jobs of a non-interactive shell ignore Ctrl-C, and `kill` is how they are stopped."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False):
        check_out(cfg, resume)
        self.cfg = cfg
        self.out = Path(cfg.out)
        torch.set_num_threads(cfg.threads or os.cpu_count())
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.device = hardware.default_device()
        if cfg.dtype not in ("auto", "float32", "bfloat16"):
            raise PtrmError(f"dtype must be auto, float32 or bfloat16, not {cfg.dtype!r}")
        self.plan = ExecutionPlan.resolve(self.device, cfg.dtype)  # how the evaluations run
        self.dtype = self.plan.dtype
        print(f"dtype {self.plan.dtype_name}: {self.plan.dtype_reason}")

        self.train_set = load_puzzles(cfg.train_data, split="train")
        self.test_set = load_puzzles(cfg.test_data).head(cfg.test_limit)
        # A task without on-the-fly augmentation may augment when its set is built (PPBench does).
        if cfg.augment and tasks.get(self.train_set.task).augment is None:
            raise PtrmError(f"{cfg.train_data}: no on-the-fly augmentation for the {self.train_set.task} task; "
                            f"set augment: false")
        mcfg = TRMConfig.from_dict({**cfg.model, "vocab_size": self.train_set.vocab_size,
                                    "seq_len": self.train_set.seq_len})
        self.model = TRM(mcfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=cfg.betas,
                                     weight_decay=cfg.weight_decay)
        self.step, self.elapsed, self.curve = 0, 0.0, []
        if resume:
            self._load_resume()
        self.stream = PuzzleStream(self.train_set, cfg.augment, self.rng)

    # -- state that survives an interruption --------------------------------------------------------
    def _save_resume(self, extra_seconds=0.0):
        # Each piece carries the step, so pieces from different saves are never mixed; resume.pt goes last,
        # so a save cut short (kill -9) leaves the previous resume.pt, and only the companions can be newer.
        step = self.step
        atomic_save({"step": step, "ema": self.ema.state_dict()}, self.out / "resume-ema.pt")
        atomic_save({"step": step, "optimizer": self.opt.state_dict()}, self.out / "resume-adam.pt")
        atomic_save({"step": step, "elapsed": self.elapsed + extra_seconds, "curve": self.curve,
                     "train_config": dataclasses.asdict(self.cfg), "model": self.model.state_dict(),
                     "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                     "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None},
                    self.out / "resume.pt")

    def _load_resume(self):
        state = read_file(self.out / "resume.pt")
        self.model.load_state_dict(state["model"])
        ema_path = self.out / "resume-ema.pt"
        ema = read_file(ema_path) if ema_path.is_file() else None
        if ema is not None and ema["step"] == state["step"]:
            self.ema.load_state_dict(ema["ema"])
        else:  # a save cut short between its files: the weights are whole, the average starts again from them
            print(f"{ema_path}: missing or from another step than resume.pt ({state['step']}); "
                  f"the EMA restarts from the weights")
            self.ema.load_state_dict(state["model"])
        adam = self.out / "resume-adam.pt"
        adam_state = read_file(adam) if adam.is_file() else None
        if adam_state is not None and adam_state["step"] == state["step"]:
            self.opt.load_state_dict(adam_state["optimizer"])
        else:
            print(f"{adam}: missing or from another step; AdamW moments restart from zero")
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":  # the halting exploration's draws
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step, self.elapsed, self.curve = state["step"], state["elapsed"], state["curve"]

    def _save_snapshot(self, t0):
        folder = Path(self.cfg.snapshot_dir or self.out / "snapshots")
        minutes = (self.elapsed + time.time() - t0) / 60
        self._save_model(folder / f"step-{self.step:06d}.pt",
                         metrics={"train_steps": self.step, "train_minutes": minutes})

    def _save_model(self, path, metrics):
        save_checkpoint(path, self.ema, task=self.train_set.task,
                        dataset={"train": self.cfg.train_data, "test": self.cfg.test_data,
                                 "train_size": len(self.train_set), "test_size": len(self.test_set)},
                        test_set=pack_test_set(self.test_set),
                        train_config=dataclasses.asdict(self.cfg), metrics=metrics)

    # -- the loop -----------------------------------------------------------------------------------
    def _fresh_rows(self, n):
        inputs, labels, pids = self.stream.take(n)
        to = lambda a: torch.from_numpy(np.asarray(a)).long().to(self.device)
        return to(inputs), to(labels), to(pids)

    @torch.no_grad()
    def _update_ema(self):
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p, 1 - self.cfg.ema_rate)

    def _done(self, t0):
        over_time = self.elapsed + (time.time() - t0) >= self.cfg.max_minutes * 60
        return over_time or (self.cfg.max_steps and self.step >= self.cfg.max_steps)

    def run(self, progress=True) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        bar = tqdm(total=self.cfg.max_steps or None, initial=self.step, disable=not progress, unit="step")
        try:
            with _sigterm_interrupts():
                self._loop(bar, t0)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was learned, then stop
            self.elapsed += time.time() - t0
            self._save_resume()
            raise PtrmError(f"interrupted at step {self.step}; continue with --resume") from None
        bar.close()
        self.elapsed += time.time() - t0
        self._save_resume()
        return self._finish()

    def _loop(self, bar, t0):
        cfg, model = self.cfg, self.model
        B, N_sup = cfg.batch_size, model.cfg.halt_max_steps  # N_sup: supervision steps
        inputs, labels, pids = self._fresh_rows(B)
        carry = tuple(c.to(self.device) for c in model.initial_carry(B, self.dtype))
        steps = torch.zeros(B, dtype=torch.long, device=self.device)
        last_save = t0
        while not self._done(t0):
            for g in self.opt.param_groups:
                g["lr"] = lr_at(cfg, self.step)
            x = model.input_embeddings(inputs, pids, self.dtype)
            carry, logits, q_halt = model.step(carry, x)
            steps += 1
            with torch.no_grad():
                correct = ((logits.argmax(-1) == labels) | (labels == IGNORE_LABEL)).all(-1)
            lm_loss = sequence_loss(logits, labels, cfg.loss).mean()
            q_loss = F.binary_cross_entropy_with_logits(q_halt, correct.float())
            loss = lm_loss + cfg.q_loss_weight * q_loss
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            self._update_ema()
            self.step += 1

            with torch.no_grad():  # which rows halt, then refill them (the official ACT schedule)
                halted = (steps >= N_sup) | (q_halt > 0)
                explore = torch.rand(B, device=self.device) < cfg.halt_exploration_prob
                min_steps = explore * torch.randint(2, N_sup + 1, (B,), device=self.device)
                halted &= steps >= min_steps
                n = int(halted.sum())
                if n:
                    new_in, new_lab, new_pid = self._fresh_rows(n)
                    inputs[halted], labels[halted], pids[halted] = new_in, new_lab, new_pid
                    init = model.initial_carry(n, self.dtype)
                    for c, i in zip(carry, init):
                        c[halted] = i.to(self.device)
                    steps[halted] = 0
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{correct.float().mean().item():.2f}")

            if self.step % cfg.eval_every == 0:
                self._log_eval(t0, lm_loss.item(), q_loss.item(), correct.float().mean().item())
                bar.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in self.curve[-1].items()))
            if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                self._save_snapshot(t0)
            if time.time() - last_save >= cfg.checkpoint_minutes * 60:
                self._save_resume(extra_seconds=time.time() - t0)
                last_save = time.time()

    def _log_eval(self, t0, lm_loss, q_loss, train_acc):
        m = evaluate(self.ema, self.test_set.head(self.cfg.eval_limit), self.plan).metrics
        self.curve.append({"step": self.step, "minutes": (self.elapsed + time.time() - t0) / 60,
                           "lm_loss": lm_loss, "q_loss": q_loss, "train_exact": train_acc,
                           "test_exact": m["exact_accuracy"], "test_cell": m["cell_accuracy"],
                           "q_auroc": m["q_auroc"],
                           **{f"test_{what}_{kind}": v for what in ("exact", "cell")
                              for kind, v in m.get(f"{what}_by_type", {}).items()}})
        write_curve(self.curve, self.out)

    def _finish(self) -> dict:
        t = time.time()
        result = evaluate(self.ema, self.test_set, self.plan)
        metrics = {**result.metrics, "train_steps": self.step, "train_minutes": self.elapsed / 60,
                   "eval_seconds": time.time() - t, "num_params": self.model.num_params()}
        self._save_model(self.out / "model.pt", metrics)
        write_curve(self.curve, self.out)
        return metrics


def write_curve(curve: list, out: Path) -> None:
    """The learning curve as CSV (atomic), and its figure (drawn by ptrm.plots) beside it."""
    if not curve:
        return
    with atomic_write(out / "curve.csv") as tmp:
        pd.DataFrame(curve).to_csv(tmp, index=False)
    learning_curve(out / "curve.csv", out / "curve.png")
