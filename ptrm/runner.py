"""A whole PTRM search: work items through a backend, then the records, the manifest and the baseline.

search.py computes rollouts; this module runs them all (through ptrm.backends), times them, records what
is needed to reproduce and cost the run (the manifest), and adds the deterministic TRM the tables compare
against (itself a run of the same engine: `deterministic_run`). How the work executes (device, dtype, chunk
size) is resolved once here, into the ExecutionPlan the backend hands to every work item. `best_q_answers` is
the small in-process path for puzzles without labels.
"""
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import ptrm
from ptrm import adaptive, diagnostics, hardware, metrics, noise, tasks, waves
from ptrm.backends import LocalBackend
from ptrm.errors import PtrmError
from ptrm.evaluate import check_compatible, deterministic_config, figures
from ptrm.model import TRM
from ptrm.plan import ExecutionPlan
from ptrm.provenance import data_sha256, provenance, source_rows
from ptrm.progress import SearchProgress
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet
from ptrm.runfolder import PartStore
from ptrm.search import LastStep, SearchConfig, run_work_item, sort_records, work_items


@dataclass
class SearchRun:
    records: pd.DataFrame       # one row per (puzzle, rollout), sorted by (puzzle, k)
    manifest: dict              # everything needed to reproduce and cost the run


def run_search(ckpt, pset: PuzzleSet, cfg: SearchConfig, backend=None, progress: bool = True,
               deterministic: bool = True, offset: int = 0, limit: int | None = None,
               parts: Path | None = None) -> SearchRun:
    """The whole search: every work item through `backend` (default: in-process), records, manifest.

    `offset` and `limit` pick the puzzles [offset, offset + limit) of `pset`. Records' `puzzle` is the index
    in the whole of `pset`, and the noise is seeded by it, so runs over consecutive windows concatenate to
    the records of one run over all of them, byte for byte. With `deterministic`, the manifest also holds
    the deterministic baseline on the same puzzles (`deterministic_run`, through the same backend).

    With `parts` (a folder), each finished work item's records are kept there as they come, and items found
    there are not run again, so a search cut short (kill -9, a session's end) loses at most the items in
    flight; parts of a search with other settings are refused, naming the field (ptrm.runfolder.PartStore).
    """
    cfg.validate()
    if not 0 <= offset < len(pset):
        raise PtrmError(f"--offset must lie in 0..{len(pset) - 1} (the set has {len(pset)} puzzles), got {offset}")
    window = slice(offset, len(pset) if limit is None else min(len(pset), offset + limit))
    n = window.stop - offset
    chosen = pset.subset(window)
    check_compatible(ckpt.model, chosen)
    D = cfg.D or ckpt.cfg.halt_max_steps
    if cfg.mode == "waves":
        waves.check_budget(cfg, n, D)
    backend = backend or LocalBackend(ckpt.model)
    plan = ExecutionPlan.resolve(ckpt.model.device, cfg.dtype, cfg.chunk_size)
    # workers get the plan made here, and the manifest says which dtype and batch size it chose
    cfg = replace(cfg, dtype=plan.dtype_name, chunk_size=plan.chunk_size)
    items = [replace(item, p0=item.p0 + offset, p1=item.p1 + offset)
             for item in work_items(n, cfg.first_width, cfg.chunk_size, whole_puzzles=cfg.whole_puzzles)]
    store = PartStore(parts) if parts else None
    if store:
        store.check(resume_settings(ckpt, chosen, cfg, offset))
    done = store.load(items) if store else {}
    if progress:
        print(f"dtype {cfg.dtype}: {plan.dtype_reason}", file=sys.stderr)
    t0, earlier = time.perf_counter(), store.seconds() if store else 0.0
    found = list(done.values())
    labelled = bool((chosen.labels != IGNORE_LABEL).any())
    with SearchProgress(f"search K={cfg.K} sigma={cfg.sigma}", n, cfg.K, D, labelled, found, show=progress) as bar:
        backend.on_step = bar.step
        todo = [item for item in items if item not in done]
        stream = (waves.run(backend, pset, todo, cfg, plan, D, found) if cfg.mode == "waves"
                  else backend.map(pset, todo, cfg, plan))
        for records in stream:
            check_finite(records, ckpt.path)  # at the first item, not after the whole search
            found.append(records)
            if store:
                store.save(records, earlier + time.perf_counter() - t0)
            bar.item(records)
    wall = earlier + time.perf_counter() - t0
    records = sort_records(pd.concat(found, ignore_index=True))
    rollout_steps = int(records.steps.sum())  # D per rollout unless a stopping rule cut it short
    flops_total = metrics.flops_per_step(ckpt.cfg) * rollout_steps
    manifest = {
        "checkpoint": {"path": ckpt.path, "sha256": ckpt.sha256},
        "provenance": provenance(),
        # `offset` numbers the records' puzzles; `source_offset` (or `source_rows`) says which rows of the source they are
        "data": {"source": pset.source, "task": pset.task, "n_puzzles": n, "offset": offset, **source_rows(chosen),
                 "sha256": data_sha256(chosen)},
        "search": {**cfg.to_dict(), "D": D, "dtype_reason": plan.dtype_reason, "noise_generator": noise.GENERATOR},
        "hardware": hardware.describe(),
        "backend": backend.describe(),
        "wall_seconds": wall,  # summed over the sessions of a resumed search
        **({"resumed_items": len(done)} if done else {}),
        "rollout_steps": rollout_steps,
        "flops_per_rollout": flops_total / len(records),  # the mean: D steps' worth each with fixed D
        "flops_total": flops_total,
        "diagnostics": diagnostics.summary(records),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    run = SearchRun(records, manifest)
    if deterministic:
        manifest["deterministic"] = baseline_summary(deterministic_run(ckpt, chosen, D, plan, backend), chosen)
    return run


def check_finite(records: pd.DataFrame, source) -> None:
    """Refuse records with a non-finite q_halt: a NaN (diverged weights, a bf16 overflow) would rank rollouts
    arbitrarily and make every table wrong without saying so."""
    bad = ~np.isfinite(records["q_halt"].to_numpy(np.float64))
    if bad.any():
        first = records[bad].iloc[0]
        raise PtrmError(f"{source}: search produced non-finite q_halt ({first.q_halt}) in {int(bad.sum())} of "
                        f"{len(records)} rollouts (first: puzzle {first.puzzle}, k {first.k}); nothing saved")


def resume_settings(ckpt, pset: PuzzleSet, cfg: SearchConfig, offset: int) -> dict:
    """What a search resumed from its finished work items must share with the one that made them: all but the
    chunk size, which changes speed, never records (parts of another chunk size are simply not reused)."""
    return {"checkpoint_sha256": ckpt.sha256, "task": pset.task, "n_puzzles": len(pset), "offset": offset,
            "data_sha256": data_sha256(pset), "noise_generator": noise.GENERATOR,
            **{key: value for key, value in cfg.to_dict().items() if key != "chunk_size"}}


def head(run: SearchRun, n_puzzles: int, K: int) -> SearchRun:
    """The run on the first n_puzzles of `run`'s puzzles with rollouts k < K: exactly the run a search with
    those settings gives, since a rollout's noise depends only on (seed, puzzle, k, step)."""
    m = run.manifest
    if not (1 <= n_puzzles <= m["data"]["n_puzzles"] and 1 <= K <= m["search"]["K"]):
        raise PtrmError(f"head({n_puzzles} puzzles, K={K}) of a run of {m['data']['n_puzzles']} puzzles, "
                        f"K={m['search']['K']}")
    first = m["data"].get("offset", 0)
    records = run.records[(run.records.puzzle < first + n_puzzles) & (run.records.k < K)].reset_index(drop=True)
    return _derived(run, records, data={**m["data"], "n_puzzles": n_puzzles}, search={**m["search"], "K": K})


def read_at_depth(run: SearchRun, D: int) -> SearchRun:
    """A fixed run with per-step records read after step D: the run of depth D (ptrm.adaptive.at_depth)."""
    return _derived(run, adaptive.at_depth(run.records, D), search={**run.manifest["search"], "D": D})


def _derived(run: SearchRun, records: pd.DataFrame, **changes) -> SearchRun:
    """A run made of (part of) `run`'s rollouts: FLOPs exact from the steps its records ran, wall time pro rata;
    the deterministic baseline is left out (it was measured on the whole run's puzzles and depth)."""
    m = run.manifest
    steps = int(records.steps.sum())
    share = steps / m["rollout_steps"]
    manifest = {**{key: v for key, v in m.items() if key != "deterministic"}, **changes,
                "wall_seconds": m["wall_seconds"] * share, "rollout_steps": steps,
                "flops_total": m["flops_total"] * share, "flops_per_rollout": m["flops_total"] * share / len(records)}
    return SearchRun(records, manifest)


def deterministic_run(ckpt, pset: PuzzleSet, D: int, plan: ExecutionPlan, backend=None) -> SearchRun:
    """The plain TRM (no noise, one rollout, D steps, every step recorded: ptrm.evaluate.deterministic_config)
    on `pset`, as a run of the search engine in `plan`'s dtype and chunk size: what every table compares
    against. ptrm.sweep stores it once per depth, beside the cells that read it."""
    return run_search(ckpt, pset, deterministic_config(D, plan), backend=backend, progress=False, deterministic=False)


def baseline_summary(run: SearchRun, pset: PuzzleSet) -> dict:
    """What a search's manifest keeps of the deterministic run on its puzzles (`pset`): its exact accuracy by
    what the task counts as solved (the records' `correct`; ARC: crop-and-compare) with its interval, the
    AUROC of its final q_halt, its time, and the task's own figures it names (`baseline_metrics`)."""
    found, exact = figures(run.records, pset), run.records["correct"].to_numpy()
    out = {"q_auroc": found["q_auroc"], "wall_seconds": run.manifest["wall_seconds"],
           **{key: found[key] for key in tasks.get(pset.task).baseline_metrics if key in found}}
    return {"exact_accuracy": float(np.mean(exact)), "ci": metrics.mean_ci(exact), **out}


def versions() -> dict:
    return {"ptrm": ptrm.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


def best_q_answers(model: TRM, pset: PuzzleSet, cfg: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Best-Q answer per puzzle: K rollouts each, keep the one with the highest final q_halt (ties: lowest k).

    Returns (answers [N, S] token ids, q_halt [N]); works for puzzles whose labels are unknown.
    """
    cfg.validate()
    check_compatible(model, pset)
    plan = ExecutionPlan.resolve(model.device, cfg.dtype, cfg.chunk_size)
    parts, last = [], []
    for item in work_items(len(pset), cfg.K, plan.chunk_size, whole_puzzles=cfg.whole_puzzles):
        last.append(LastStep())
        parts.append(run_work_item(model, pset, item, cfg, plan, observe=last[-1]))
    records = pd.concat(parts, ignore_index=True)
    preds = np.concatenate([seen.answers for seen in last])
    best = metrics.best_q_rows(records)
    return preds[best.index.values], best.q_halt.values
