"""Turn a run's records into the tables people read: accuracy by selection rule, and compute per puzzle."""
import numpy as np
import pandas as pd

from ptrm import metrics, rules
from ptrm.runner import SearchRun

def curve_ks(K: int) -> list[int]:
    """1, 2, 4, ... and K itself: the k values a curve is drawn at."""
    return sorted({2 ** i for i in range(int(np.log2(K)) + 1)} | {K})


def rule_table(run: SearchRun, seed: int = 0) -> pd.DataFrame:
    """One row per method at k = K: accuracy (%) with its 95% bootstrap interval."""
    m = run.manifest
    K = m["search"]["K"]
    rows = []
    if "deterministic" in m:
        det = m["deterministic"]
        rows.append({"method": "deterministic TRM", "accuracy": det["exact_accuracy"],
                     "ci_low": det["ci"][0], "ci_high": det["ci"][1], "estimator": "-"})
    table = rules.curves(run.records, [K], seed=seed)
    for r in table.itertuples():
        rows.append({"method": rules.get(r.rule).title(K), "accuracy": r.accuracy,
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
