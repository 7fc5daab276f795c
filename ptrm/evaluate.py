"""Deterministic evaluation, as the official code does it: every puzzle runs D supervision steps, no noise,
Q never halts; the answer is the argmax of the last step's logits.

It is the search engine (ptrm.search.run_work_item) with sigma 0 and K = 1, recording every step
(`deterministic_config`), and its figures are read from those records (`figures`): `ptrm eval`, training's
evaluations and the baseline every table compares against (ptrm.runner.deterministic_run) are one computation.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from tqdm import tqdm

from ptrm import tasks
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.plan import ExecutionPlan
from ptrm.puzzles import PuzzleSet
from ptrm.search import SearchConfig, run_work_item, sort_records, work_items


def check_compatible(model: TRM, pset: PuzzleSet) -> None:
    """Refuse data the model cannot read, instead of silently producing garbage."""
    cfg = model.cfg
    if pset.seq_len != cfg.seq_len:
        raise PtrmError(f"{pset.source}: sequence length {pset.seq_len} != checkpoint's {cfg.seq_len}")
    if pset.vocab_size != cfg.vocab_size:
        raise PtrmError(f"{pset.source}: vocab size {pset.vocab_size} != checkpoint's {cfg.vocab_size}")
    top = int(pset.inputs.max(initial=0))
    if top >= cfg.vocab_size:
        raise PtrmError(f"{pset.source}: token id {top} outside the checkpoint's vocab of {cfg.vocab_size}")
    ids = int(pset.puzzle_identifiers.max(initial=0))
    if cfg.puzzle_emb_ndim > 0 and ids >= cfg.num_puzzle_identifiers:
        raise PtrmError(f"{pset.source}: puzzle identifier {ids} outside the checkpoint's {cfg.num_puzzle_identifiers}")
    tasks.get(pset.task).check(model, pset)


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `positive` vs the rest (Mann-Whitney, ties averaged).
    NaN when one class is empty."""
    positive = np.asarray(positive, bool)
    n1, n0 = positive.sum(), (~positive).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def deterministic_config(D: int, plan: ExecutionPlan) -> SearchConfig:
    """The search that is the plain TRM: one rollout per puzzle, no noise, D steps, every step recorded."""
    return SearchConfig(K=1, sigma=0.0, D=D, per_step=True, dtype=plan.dtype_name,
                        chunk_size=plan.chunk_size).validate()


def figures(records: pd.DataFrame, pset: PuzzleSet) -> dict:
    """The figures of a deterministic run from its records (`deterministic_config`; one row per puzzle of `pset`):
    exact and cell accuracy after the last step, exact accuracy after each step, the AUROC and precision of the
    final q_halt for exactness, then the task's own figures (which may replace the generic ones: ARC's exact
    accuracy is the official crop-and-compare). Generic exactness is token for token, at every step."""
    exact_steps = np.stack(records["correct_steps"].to_numpy())  # [N, D]
    exact, q = exact_steps[:, -1], records["q_halt"].to_numpy()
    out = {
        "exact_accuracy": float(exact.mean()),
        "cell_accuracy": float(records["cell_acc"].to_numpy().mean()),
        "exact_accuracy_per_step": [float(a) for a in exact_steps.mean(0)],
        "q_auroc": auroc(q, exact),
        "q_precision": float(exact[q > 0].mean()) if (q > 0).any() else float("nan"),
    }
    return {**out, **tasks.get(pset.task).eval_metrics(records, pset)}


class StepOutputs:
    """What the records of a deterministic run do not keep, for `ptrm eval --save-outputs`: every step's answer
    (preds [D, N, S]) and q_halt ([D, N]) and, with `logits`, its logits ([D, N, S, V], fp32). `at(p0)` is the
    observer (see ptrm.search.run_work_item) of the work item whose first puzzle is p0 (K = 1: its row i is
    puzzle p0 + i)."""

    def __init__(self, n: int, D: int, logits: bool = False):
        self.n, self.D, self.keep_logits = n, D, logits
        self.preds = self.q_halt = self.logits = None

    def at(self, p0: int):
        def observe(t, rows, carry, logits, q):
            if self.preds is None:  # the shapes come with the first step
                B, S, V = logits.shape
                self.preds = np.zeros((self.D, self.n, S), np.int64)
                self.q_halt = np.zeros((self.D, self.n), np.float32)
                if self.keep_logits:
                    self.logits = np.zeros((self.D, self.n, S, V), np.float32)
            self.preds[t, p0 + rows] = logits.argmax(-1).cpu().numpy()
            self.q_halt[t, p0 + rows] = q
            if self.keep_logits:
                self.logits[t, p0 + rows] = logits.float().cpu().numpy()
        return observe


@dataclass
class Evaluation:
    records: pd.DataFrame       # one row per puzzle (k = 0), every step recorded
    metrics: dict               # n, steps, dtype, then `figures`


def evaluate(model: TRM, pset: PuzzleSet, plan: ExecutionPlan, steps: int | None = None,
             outputs: StepOutputs | None = None, progress: bool = False) -> Evaluation:
    """The plain TRM on `pset` for `steps` supervision steps (default: the checkpoint's N_sup), in this process:
    the work items of `deterministic_config` through the search engine, in the plan's dtype and chunk size."""
    check_compatible(model, pset)
    cfg = deterministic_config(steps or model.cfg.halt_max_steps, plan)
    items = work_items(len(pset), 1, plan.chunk_size)
    parts = [run_work_item(model, pset, item, cfg, plan, observe=outputs.at(item.p0) if outputs else None)
             for item in tqdm(items, desc="eval", unit="batch", disable=not progress)]
    records = sort_records(pd.concat(parts, ignore_index=True))
    return Evaluation(records, {"n": len(pset), "steps": cfg.D, "dtype": plan.dtype_name, **figures(records, pset)})
