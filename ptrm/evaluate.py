"""Deterministic evaluation, as the official code does it: every puzzle runs D supervision steps, no noise,
Q never halts; the answer is the argmax of the last step's logits."""
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata
from tqdm import tqdm

from ptrm import hardware, tasks
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.puzzles import PuzzleSet, exact_and_cell


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


@dataclass
class EvalResult:
    preds: np.ndarray           # (D, N, S) predicted token ids per step
    q_halt: np.ndarray          # (D, N) q_halt logits per step
    logits: np.ndarray | None   # (D, N, S, V) if kept
    metrics: dict


def evaluate(model: TRM, pset: PuzzleSet, steps=None, dtype=torch.float32, batch_size=256,
             keep_logits=False, progress=False) -> EvalResult:
    check_compatible(model, pset)
    steps = steps or model.cfg.halt_max_steps
    preds, qs, logits = [], [], []
    starts = range(0, len(pset), batch_size)
    for i in tqdm(starts, desc="eval", unit="batch", disable=not progress):
        out = model.rollout(torch.from_numpy(pset.inputs[i:i + batch_size]),
                            torch.from_numpy(pset.puzzle_identifiers[i:i + batch_size]),
                            steps=steps, dtype=dtype, keep_logits=keep_logits)
        preds.append(out["preds"].cpu().numpy())
        qs.append(out["q_halt"].cpu().numpy())
        if keep_logits:
            logits.append(out["logits"].cpu().numpy())
    preds, qs = np.concatenate(preds, 1), np.concatenate(qs, 1)
    exact, cell = exact_and_cell(preds, pset.labels)
    metrics = {
        "n": len(pset), "steps": steps, "dtype": hardware.dtype_name(dtype),
        "exact_accuracy": float(exact[-1].mean()),
        "cell_accuracy": float(cell[-1].mean()),
        "exact_accuracy_per_step": [float(a) for a in exact.mean(1)],
        "q_auroc": auroc(qs[-1], exact[-1]),
        "q_precision": float(exact[-1][qs[-1] > 0].mean()) if (qs[-1] > 0).any() else float("nan"),
    }
    metrics.update(tasks.get(pset.task).eval_metrics(preds[-1], qs[-1], pset))  # the task's own figures
    return EvalResult(preds, qs, np.concatenate(logits, 1) if keep_logits else None, metrics)
