"""One checkpoint's row of the training-progress table (experiments/progress.py, experiments/evidence.py): a sweep
over sigmas at the checkpoint's N_sup on its own test puzzles, the deterministic run the sweep stores, every
selection rule at K with 95% intervals, the share of the deterministic error best-Q closes, and the share of the
deterministic failures some rollout solves; the RMS of the carried zL; paired changes between snapshots."""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm import metrics, rules
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.evaluate import evaluate, figures
from ptrm.io import atomic_write_text
from ptrm.plan import ExecutionPlan
from ptrm.provenance import data_sha256
from ptrm.search import SearchConfig
from ptrm.store import load_run
from ptrm.sweep import cell_name, run_sweep, stored_baseline

PROGRESS = dict(K=64, sigmas=[0.1, 0.3])  # the defaults, which experiments/evidence.py's headline shares
SOURCES = ["checkpoint", "cell", "data_sha256"]  # where a row's numbers come from: in the CSV, not the Markdown


def paired(a, b) -> tuple[float, float, float]:
    """Mean of the per-puzzle differences a - b in points, with its 95% bootstrap interval."""
    diff = 100 * (np.asarray(a, float) - np.asarray(b, float))
    return (diff.mean(), *metrics.mean_ci(diff))


class LatentRMS:
    """An observer (ptrm.evaluate.evaluate's `outputs`) of the carried zL: its RMS per token, averaged over the
    rows of each work item, per step."""

    def __init__(self):
        self.per_step = []

    def at(self, p0):
        def observe(t, rows, carry, logits, q):
            self.per_step.append(carry[1].float().pow(2).mean(-1).sqrt().mean().item())
        return observe


def latent_rms(ck, pset, folder: Path, n: int = 64) -> float:
    """The RMS per token of the carried zL (where the noise goes), averaged over the N_sup deterministic steps
    of the first n puzzles: the scale an absolute sigma meets, which `--sigma-scale relative` divides out.
    Kept in folder/zL_rms.json, so that a re-run adding a snapshot to the figure does not recompute the others'."""
    cache, plan = folder / "zL_rms.json", ExecutionPlan.resolve(ck.model.device)
    key = {"n": min(n, len(pset)), "dtype": plan.dtype_name}
    if cache.exists() and (kept := json.loads(cache.read_text()))["key"] == key:
        return kept["zL_rms"]
    seen = LatentRMS()
    evaluate(ck.model, pset.head(n), plan, outputs=seen)
    rms = float(np.mean(seen.per_step))
    atomic_write_text(cache, json.dumps({"key": key, "zL_rms": rms}) + "\n")
    return rms


def measure(path: Path, sigmas, cfg: SearchConfig, limit: int, out: Path) -> list[dict]:
    ck = load_checkpoint(path)
    pset = ck.test_set().head(limit)
    D = ck.cfg.halt_max_steps
    folder = out / path.stem
    run_sweep(ck, pset, sigmas, [D], cfg, folder, log=print)
    det = stored_baseline(ck, pset, D, cfg, folder).records  # the sweep's deterministic run: read, not rerun
    solved, q_auroc, rms = det.correct.to_numpy(), figures(det, pset)["q_auroc"], latent_rms(ck, pset, folder)
    base = {"checkpoint": str(path), "step": ck.meta.get("metrics", {}).get("train_steps"),
            "minutes": ck.meta.get("metrics", {}).get("train_minutes"), "n": len(pset), "K": cfg.K,
            "search": "adaptive" if cfg.adaptive else "fixed", "deterministic": 100 * solved.mean(),
            "q_auroc": q_auroc, "zL RMS": rms, "data_sha256": data_sha256(pset)}
    rows = []
    for sigma in sigmas:
        records = load_run(folder / cell_name(sigma, D)).records
        row = {**base, "sigma": sigma, "cell": str(folder / cell_name(sigma, D))}
        for rule in rules.rules_for(records):  # every rule the records support, under its short name
            name = rules.get(rule).short
            values = rules.per_puzzle_at_k(records, rule, cfg.K)[0]
            low, high = metrics.mean_ci(values)
            row.update({name: 100 * values.mean(), f"{name} ci_low": 100 * low, f"{name} ci_high": 100 * high})
        failed = np.flatnonzero(~solved)
        any_right = records.groupby("puzzle").correct.any().reindex(failed).to_numpy()
        row["failures some rollout solves"] = 100 * any_right.mean() if len(failed) else np.nan
        row["error closed by best-Q"] = 100 * (row["best-Q"] - row["deterministic"]) / (100 - row["deterministic"])
        rows.append(row)
    return rows


def changes(table: pd.DataFrame, K: int) -> pd.DataFrame:
    """Per sigma, the change in best-Q@K from each snapshot of `table` (rows in training order) to the next,
    and from the first to the last, paired over the puzzles both were measured on."""
    rows = []
    for sigma, group in table.groupby("sigma", sort=True):
        if group.data_sha256.nunique() > 1:
            raise PtrmError(f"sigma {sigma:g}: the snapshots were measured on different puzzles; "
                            "no paired difference")
        best_q = [rules.per_puzzle_at_k(load_run(cell).records, "best_q", K)[0] for cell in group.cell]
        names = [Path(c).stem for c in group.checkpoint]
        last = len(group) - 1
        for i, j in [(i, i + 1) for i in range(last)] + ([(0, last)] if last > 1 else []):
            change, low, high = paired(best_q[j], best_q[i])
            rows.append({"sigma": sigma, "from": names[i], "to": names[j], f"best-Q@{K} change": change,
                         "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
