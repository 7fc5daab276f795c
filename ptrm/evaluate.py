"""Deterministic evaluation, as the official code does it: every puzzle runs D supervision steps, no noise,
Q never halts; the answer is the argmax of the last step's logits."""
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata
from tqdm import tqdm

from ptrm import arc_eval, hardware
from ptrm.data import PuzzleSet
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.tasks import IGNORE_LABEL, maze
from ptrm.tasks.ppbench.board import KINDS


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
    if cfg.puzzle_emb_ndim > 0 and pset.rows is not None:
        arc_eval.check_embeddings(model.puzzle_emb.weights.detach(), pset)


def exact_and_cell(preds: np.ndarray, labels: np.ndarray):
    """preds [..., N, S] vs labels [N, S] -> (exact [..., N] bool, cell accuracy [..., N])."""
    mask = labels != IGNORE_LABEL
    hit = (preds == labels) | ~mask
    return hit.all(-1), ((preds == labels) & mask).sum(-1) / np.maximum(mask.sum(-1), 1)


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


def by_type(values: np.ndarray, kinds: np.ndarray) -> dict:
    """The mean of per-puzzle `values` per PPBench type present, in KINDS order (kinds: the puzzle identifiers)."""
    return {KINDS[k]: float(values[kinds == k].mean()) for k in np.unique(kinds)}


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
    if pset.task == "ppbench":  # one model for six puzzle types: how each fares
        metrics["exact_by_type"] = by_type(exact[-1], pset.puzzle_identifiers)
        metrics["cell_by_type"] = by_type(cell[-1], pset.puzzle_identifiers)
    if pset.task == "maze":  # exact match counts; a valid but different route is reported beside it
        metrics["valid_path_rate"] = float(maze.valid_paths(preds[-1], pset.inputs).mean())
    if pset.task == "arc" and pset.rows is not None:  # the official crop-and-compare, and the vote
        # exact_accuracy becomes the crop-and-compare; per-step accuracies stay token-exact (never higher).
        metrics.update(arc_eval.deterministic_metrics(preds[-1], qs[-1], pset))
    return EvalResult(preds, qs, np.concatenate(logits, 1) if keep_logits else None, metrics)
