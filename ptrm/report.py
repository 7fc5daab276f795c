"""Turn a run's records into the tables people read: accuracy by selection rule, and compute per puzzle."""
import numpy as np
import pandas as pd

from ptrm import arc_eval, metrics
from ptrm.runner import SearchRun

RULE_NAMES = {"pass": "pass@K (oracle)", "best_q": "best-Q@K", "mode": "mode@K", "q_weighted": "Q-weighted@K",
              "verified": "verified@K"}


def curve_ks(K: int) -> list[int]:
    """1, 2, 4, ... and K itself: the k values a curve is drawn at."""
    return sorted({2 ** i for i in range(int(np.log2(K)) + 1)} | {K})


def summary(run: SearchRun, seed: int = 0) -> pd.DataFrame:
    """One row per method at k = K: accuracy (%) with its 95% bootstrap interval."""
    m = run.manifest
    K = m["search"]["K"]
    rows = []
    if "deterministic" in m:
        det = m["deterministic"]
        rows.append({"method": "deterministic TRM", "accuracy": det["exact_accuracy"],
                     "ci_low": det["ci"][0], "ci_high": det["ci"][1], "estimator": "-"})
    table = metrics.curves(run.records, [K], seed=seed)
    for r in table.itertuples():
        rows.append({"method": RULE_NAMES[r.rule].replace("K", str(K)), "accuracy": r.accuracy,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "estimator": r.method})
    df = pd.DataFrame(rows)
    df[["accuracy", "ci_low", "ci_high"]] *= 100
    return df


def rollout_steps(run: SearchRun) -> int:
    """Supervision steps run by all the run's rollouts together; runs from before adaptive compute (no
    `steps` column) ran D each."""
    if "steps" in run.records.columns:
        return int(run.records.steps.sum())
    return run.manifest["search"]["D"] * len(run.records)


def compute_per_puzzle(run: SearchRun, usd_per_gpu_hour: float = 2.50) -> dict:
    """Network FLOPs, supervision steps (all K rollouts), wall seconds and dollars per puzzle."""
    m = run.manifest
    n = m["data"]["n_puzzles"]
    return {"flops": m["flops_total"] / n, "steps": rollout_steps(run) / n, "seconds": m["wall_seconds"] / n,
            "usd": metrics.cost_per_puzzle(m["wall_seconds"], n, usd_per_gpu_hour)}


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table (pandas' to_markdown needs tabulate; this needs nothing)."""
    cols = list(df.columns)
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


ARC_RULE_NAMES = {"vote": "PTRM + official vote", "q_weighted": "PTRM, Q-weighted vote", "best_q": "PTRM, best Q",
                  "pass": "PTRM oracle (any candidate)"}


def arc_summary(run: SearchRun, seed: int = 0) -> pd.DataFrame:
    """ARC runs: the official score (mean over tasks, %) at pass@1 and pass@2 of the deterministic model
    (the task as given, and the official vote over augmentations) and of PTRM's rankings over all K x A
    candidates of each test input (see ptrm.arc_eval)."""
    m = run.manifest
    K = m["search"]["K"]
    rows = []
    det = m.get("deterministic", {}).get("arc")
    if det:
        if "unaugmented_pass@1" in det:
            rows.append({"method": "deterministic TRM, task as given", "pass@1": det["unaugmented_pass@1"],
                         "pass@2": det["unaugmented_pass@2"], "estimator": "-"})
        rows.append({"method": f"deterministic TRM + official vote ({det['versions']:g} versions)",
                     "pass@1": det["vote_pass@1"], "pass@2": det["vote_pass@2"], "estimator": "-"})
    table = arc_eval.summary(run.records, seed=seed)
    for rule, part in table.groupby("rule", sort=False):
        acc = dict(zip(part["attempts"], part["accuracy"]))
        rows.append({"method": f"{ARC_RULE_NAMES[rule]} (K={K})", "pass@1": acc.get(1, acc.get("all")),
                     "pass@2": acc.get(2, acc.get("all")), "estimator": part["method"].iloc[0]})
    df = pd.DataFrame(rows)
    df[["pass@1", "pass@2"]] *= 100
    return df
