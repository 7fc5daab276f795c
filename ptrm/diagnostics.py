"""Diagnostics without labels: from a run's records alone, whether to trust its search (issue 33).

In the spirit of Corbett et al. 2026's three (local stability, guide alignment, cloud-token entropy), per puzzle,
from the rollouts' final answers (`answer_hash`) and Q (`q_halt`) only:

    stability  share of the rollouts that give the puzzle's most common answer: 1 when noise never moves the
               answer, 1/K when every rollout ends somewhere else
    alignment  rollouts giving the best-Q answer / rollouts giving the most common answer: 1 when Q ranks first
               the answer the population converges on, small when Q picks an outlier
    entropy    Shannon entropy of the distribution of final answers over the rollouts, / log K (0: all agree,
               1: all differ). The paper's entropy is per cell; records hold a hash of each answer, not the
               answer, so this is the answer-level entropy (a cell-level one needs the answers themselves)
    best_q     the q_halt of the best-Q pick (the model's own confidence; the reference the others must beat)

Checked against labels where the records have them (`correct`), as AUROCs over puzzles (> 0.5: higher values
go with the label; < 0.5: lower values do):

    pick_right    the best-Q pick is right
    search_helps  the best-Q pick is right where the deterministic TRM is wrong (given its correctness per
                  puzzle, `baseline`); else the best-Q pick is right although fewer than half of the
                  rollouts are (one rollout would likely have failed). The second reads the labels of the
                  rollouts themselves, so low stability goes with it partly by construction

Works for every mode (independent, population, waves: puzzles may have different numbers of rollouts).
"""
import numpy as np
import pandas as pd

from ptrm import metrics
from ptrm.evaluate import auroc

DIAGNOSTICS = ("stability", "alignment", "entropy", "best_q")
LABELS = ("pick_right", "search_helps")


def per_puzzle(records: pd.DataFrame, baseline: pd.Series | None = None) -> pd.DataFrame:
    """One row per puzzle: the diagnostics, and the labels (from `correct`; `baseline`: the deterministic TRM's
    correctness, indexed by puzzle)."""
    counts = records.groupby(["puzzle", "answer_hash"]).size()
    n = records.groupby("puzzle").size()
    pick = metrics.best_q_rows(records).set_index("puzzle")
    share = counts / n.reindex(counts.index.get_level_values("puzzle")).to_numpy()
    modal = counts.groupby("puzzle").max()
    picked = counts.reindex(pd.MultiIndex.from_arrays([pick.index, pick.answer_hash])).to_numpy()
    entropy = (-share * np.log(share)).groupby("puzzle").sum() / np.log(n.where(n > 1, np.e))
    right = pick.correct.astype(bool)
    failed = (~baseline.reindex(pick.index).astype(bool) if baseline is not None
              else records.groupby("puzzle").correct.mean() < 0.5)
    return pd.DataFrame({"stability": modal / n, "alignment": picked / modal.to_numpy(), "entropy": entropy,
                         "best_q": pick.q_halt, "pick_right": right, "search_helps": right & failed})


def summary(records: pd.DataFrame, baseline: pd.Series | None = None) -> dict:
    """Per run: each diagnostic's mean over puzzles and its AUROC for each label (what the manifest stores)."""
    table = per_puzzle(records, baseline)
    return {"n_puzzles": len(table),
            "mean": {d: float(table[d].mean()) for d in DIAGNOSTICS},
            "auroc": {label: {d: auroc(table[d].to_numpy(), table[label].to_numpy()) for d in DIAGNOSTICS}
                      for label in LABELS},
            "positives": {label: int(table[label].sum()) for label in LABELS}}


def table(summary: dict) -> pd.DataFrame:
    """The summary as rows people read: one per diagnostic."""
    return pd.DataFrame([{"diagnostic": d, "mean": summary["mean"][d],
                          **{f"AUROC {label} ({summary['positives'][label]}/{summary['n_puzzles']})":
                             summary["auroc"][label][d] for label in LABELS}} for d in DIAGNOSTICS])
