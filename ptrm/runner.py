"""A whole PTRM search: work items through a backend, then the records, the manifest and the baseline.

search.py computes rollouts; this module runs them all (through ptrm.backends), times them, records what
is needed to reproduce and cost the run (the manifest), and adds the deterministic TRM the tables compare
against. `solve` is the small in-process path for puzzles without labels.
"""
import json
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

import ptrm
from ptrm import adaptive, diagnostics, hardware, metrics, noise, tasks, waves
from ptrm.backends import LocalBackend
from ptrm.errors import PtrmError
from ptrm.io import atomic_write, atomic_write_text
from ptrm.evaluate import check_compatible, evaluate
from ptrm.model import TRM
from ptrm.provenance import data_sha256, provenance, source_rows
from ptrm.puzzles import PuzzleSet
from ptrm.search import SearchConfig, WorkItem, run_work_item, sort_records, work_items


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
    the deterministic baseline on the same puzzles.

    With `parts` (a folder), each finished work item's records are kept there as they come, and items found
    there are not run again, so a search cut short (kill -9, a session's end) loses at most the items in
    flight. The caller owns the folder's consistency: it must hold only parts of a search with these settings.
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
    dtype, why = hardware.resolve_dtype(cfg.dtype, ckpt.model.device)
    # workers get the dtype and batch size chosen here, and the manifest says which they were
    cfg = replace(cfg, dtype=hardware.dtype_name(dtype), chunk_size=cfg.chunk(ckpt.model.device))
    if progress:
        print(f"dtype {cfg.dtype}: {why}", file=sys.stderr)
    items = [replace(item, p0=item.p0 + offset, p1=item.p1 + offset)
             for item in work_items(n, cfg.first_width, cfg.chunk_size, whole_puzzles=cfg.whole_puzzles)]
    store = PartStore(parts) if parts else None
    done = store.load(items) if store else {}
    t0, earlier = time.perf_counter(), store.seconds() if store else 0.0
    found = list(done.values())
    with tqdm(total=n * cfg.K, initial=sum(map(len, found)), unit="rollout",
              desc=f"search K={cfg.K} sigma={cfg.sigma}", disable=not progress) as bar:
        todo = [item for item in items if item not in done]
        stream = (waves.run(backend, pset, todo, cfg, D, found) if cfg.mode == "waves"
                  else backend.map(pset, todo, cfg))
        for records in stream:
            found.append(records)
            if store:
                store.save(records, earlier + time.perf_counter() - t0)
            bar.update(len(records))
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
        "search": {**cfg.to_dict(), "D": D, "dtype_reason": why, "noise_generator": noise.GENERATOR},
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
    if deterministic:
        manifest["deterministic"] = deterministic_baseline(ckpt.model, chosen, D, cfg.dtype)
    return SearchRun(records, manifest)


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


class PartStore:
    """A search's finished work items on disk, one parquet file per item (puzzles [p0, p1) x rollouts [k0, k1)),
    and the wall time spent so far in `seconds.json`. Each file is written whole (ptrm.io), so a part on disk
    is a finished item; parts whose rectangle is not among the items asked for (another chunk size) are
    ignored, not mixed in."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, item: WorkItem) -> Path:
        return self.folder / f"p{item.p0}-{item.p1}_k{item.k0}-{item.k1}.parquet"

    def load(self, items) -> dict:
        return {item: pd.read_parquet(self._path(item)) for item in items if self._path(item).is_file()}

    def save(self, records: pd.DataFrame, seconds: float) -> None:
        puzzles, ks = records.puzzle.to_numpy(), records.k.to_numpy()  # an item is a rectangle: its corners name it
        item = WorkItem(int(puzzles.min()), int(puzzles.max()) + 1, int(ks.min()), int(ks.max()) + 1)
        with atomic_write(self._path(item)) as tmp:
            records.to_parquet(tmp, index=False)
        atomic_write_text(self.folder / "seconds.json", json.dumps({"wall_seconds": seconds}))

    def seconds(self) -> float:
        path = self.folder / "seconds.json"
        return json.loads(path.read_text())["wall_seconds"] if path.is_file() else 0.0


def deterministic_baseline(model: TRM, pset: PuzzleSet, D: int, dtype: str) -> dict:
    """The plain TRM (no noise, one rollout, D steps) on the same puzzles: what every table compares against."""
    t = time.perf_counter()
    res = evaluate(model, pset, steps=D, dtype=getattr(torch, dtype))
    seconds = time.perf_counter() - t
    task = tasks.get(pset.task)
    exact = task.row_correct(res.preds[-1], pset)  # what the task counts as solved (ARC: crop-and-compare)
    out = {"q_auroc": res.metrics["q_auroc"], "wall_seconds": seconds,
           **{key: res.metrics[key] for key in task.baseline_metrics if key in res.metrics}}
    return {"exact_accuracy": float(np.mean(exact)), "ci": metrics.mean_ci(exact), **out}


def versions() -> dict:
    return {"ptrm": ptrm.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


def solve(model: TRM, pset: PuzzleSet, cfg: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Best-Q answer per puzzle: K rollouts each, keep the one with the highest final q_halt (ties: lowest k).

    Returns (answers [N, S] token ids, q_halt [N]); works for puzzles whose labels are unknown.
    """
    cfg.validate()
    check_compatible(model, pset)
    parts = [run_work_item(model, pset, item, cfg, return_states=True)
             for item in work_items(len(pset), cfg.K, cfg.chunk(model.device), whole_puzzles=cfg.whole_puzzles)]
    records = pd.concat(parts, ignore_index=True)
    preds = np.concatenate([r.attrs["preds"] for r in parts])
    best = records.assign(neg_q=-records.q_halt).sort_values(["puzzle", "neg_q", "k"]).groupby("puzzle").head(1)
    return preds[best.index.values], best.q_halt.values
