"""Sweeps: PTRM search over a grid of noise sigma x depth D, one run folder per cell, resumable.

    DIR/sweep.json               checkpoint sha256 and the settings every cell shares (written first)
    DIR/sigma=0.1_D=16/          one ptrm.store run: records.parquet, then manifest.json (= cell done)
    DIR/deterministic/D=16/      the deterministic TRM at that depth, a run too (K=1, sigma 0, every step recorded)
    DIR/summary.csv, summary.md  one row per finished cell, accuracy at k = K for every selection rule

K is not a grid axis: one run at K gives the whole width curve through the exact @k estimators.
A cell is done when its manifest exists (save_run writes it last), so after Ctrl-C or kill -9 a re-run
skips finished cells. A cell in progress keeps its finished work items in DIR/<cell>/parts/ (see
ptrm.runfolder.PartStore, the mechanism `ptrm search --resume` uses), so the cell cut short loses only the
items in flight; its records are written whole once every item is in, and the parts are removed. Records do not
depend on the backend or chunk size, so a sweep may be finished with other --workers than it started with. The
deterministic baseline is computed once per depth and stored as a run (`stored_baseline`): the cells' manifests
summarize it, and the experiments read it (ptrm.evaluate.figures; its first d steps are the deterministic TRM at
depth d).
"""
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm import noise, rules
from ptrm.backends import BackendSpec, make_backend
from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.plan import ExecutionPlan
from ptrm.provenance import data_sha256
from ptrm.report import compute_per_puzzle, markdown
from ptrm.runfolder import LOCK, lock
from ptrm.runner import SearchRun, baseline_summary, deterministic_run, run_search
from ptrm.search import SearchConfig
from ptrm.store import load_run, save_run

SWEEP_FILE = "sweep.json"


def cell_name(sigma: float, D: int) -> str:
    return f"sigma={float(sigma)!r}_D={D}"  # repr: the shortest exact form, so two sigmas never share a folder


def shared_settings(ckpt, pset, cfg: SearchConfig) -> dict:
    """What every cell must agree on for the cells to be comparable: the compared part of sweep.json.

    chunk_size is left out: it changes speed, never records. The noise generator is in: a sweep begun with
    another one (older sweeps have none recorded) cannot be resumed.
    """
    return {"checkpoint_sha256": ckpt.sha256, "task": pset.task, "n_puzzles": len(pset),
            "data_sha256": data_sha256(pset), "K": cfg.K, "seed": cfg.seed, "noise_on": cfg.noise_on,
            "per_step": cfg.per_step, "dtype": cfg.dtype, "noise_generator": noise.GENERATOR,
            # Only when relative, so sweeps made before the option (absolute, unrecorded) still resume.
            **({"sigma_scale": cfg.sigma_scale} if cfg.sigma_scale != "absolute" else {}),
            **cfg.rule}


def claim(out: Path, settings: dict, ckpt_path: str, grid: dict) -> None:
    """Start DIR as a sweep, or check that the sweep already in it has the same settings.

    Anything else in DIR (another sweep's settings, a folder that is not a sweep) is an error before a
    byte is written. The grid may grow between runs: sweep.json keeps the union of the grids asked for.
    """
    path = out / SWEEP_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            theirs = old["settings"]
        except (ValueError, KeyError, TypeError):
            raise PtrmError(f"{path}: unreadable sweep file; use another --out") from None
        theirs_sha, ours_sha = str(theirs.get("checkpoint_sha256")), settings["checkpoint_sha256"]
        if theirs_sha != ours_sha:
            raise PtrmError(f"{out}: a sweep made by another checkpoint (sha256 {theirs_sha[:12]}, this one "
                            f"{ours_sha[:12]}); use another --out")
        diff = [k for k in settings if theirs.get(k) != settings[k]]
        if diff:
            k = diff[0]
            raise PtrmError(f"{out}: a sweep with other settings ({k} {theirs.get(k)!r} there, {settings[k]!r} "
                            f"now); use the same settings to resume, or another --out")
        grid = {axis: sorted(set(old.get("grid", {}).get(axis, [])) | set(grid[axis])) for axis in grid}
    elif out.exists() and any(p.name != LOCK for p in out.iterdir()):
        raise PtrmError(f"{out}: not empty and holds no {SWEEP_FILE}; use another --out")
    atomic_write_text(path, json.dumps({"settings": settings, "checkpoint_path": ckpt_path, "grid": grid,
                                        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1))


def stored_baseline(ckpt, pset, D: int, cfg: SearchConfig, out, backend=None) -> SearchRun:
    """The deterministic TRM at depth D on the sweep's puzzles in `cfg`'s dtype (and chunk size), stored in
    DIR/deterministic/D=<D>/: run once (by `backend`, else in this process), then read. It is the same for every
    sigma (the sweep pins the checkpoint, puzzles and dtype); a stored run of another checkpoint, puzzles or
    dtype is refused."""
    plan = ExecutionPlan.resolve(ckpt.model.device, cfg.dtype, cfg.chunk_size)
    folder = Path(out) / "deterministic" / f"D={D}"
    if not (folder / "manifest.json").is_file():
        run = deterministic_run(ckpt, pset, D, plan, backend)
        save_run(run, folder)
        return run
    run = load_run(folder)
    m = run.manifest
    if (m["checkpoint"]["sha256"], m["data"]["sha256"], m["search"]["dtype"]) != (ckpt.sha256, data_sha256(pset),
                                                                                   plan.dtype_name):
        raise PtrmError(f"{folder}: a deterministic run of another checkpoint, puzzles or dtype; remove it")
    return run


def run_sweep(ckpt, pset, sigmas, steps, cfg: SearchConfig, out, backend: BackendSpec = BackendSpec(),
              progress: bool = True, log=lambda message: None) -> pd.DataFrame:
    """Run every unfinished cell of sigmas x steps (steps None: the checkpoint's N_sup), then summarize.

    `cfg` holds the shared settings (K, seed, noise_on, ...); its sigma and D are replaced per cell.
    The grid and the folder are checked before any backend starts, and the backend (`backend` says where, see
    ptrm.backends) starts only if a cell is left to run. Returns the summary table, also
    written to DIR/summary.csv and DIR/summary.md.
    """
    out = Path(out)
    # `auto` becomes the dtype of this machine, so a sweep resumed on another kind of machine is refused
    # rather than mixing bf16 and fp32 cells
    cfg = replace(cfg, dtype=ExecutionPlan.resolve(ckpt.model.device, cfg.dtype).dtype_name)
    sigmas = sorted({float(s) for s in sigmas})
    steps = sorted({int(d) for d in ([ckpt.cfg.halt_max_steps] if steps is None else steps)})
    if not sigmas or not steps:
        raise PtrmError(f"empty grid: --sigmas has {len(sigmas)} values, --steps {len(steps)}; give at least one each")
    cells = [replace(cfg, sigma=s, D=d).validate() for s in sigmas for d in steps]
    with lock(out):  # one writer per sweep; an unwritable --out is refused here, before any work
        claim(out, shared_settings(ckpt, pset, cfg), ckpt.path, {"sigmas": sigmas, "steps": steps})
        todo = [c for c in cells if not (out / cell_name(c.sigma, c.D) / "manifest.json").is_file()]
        log(f"{out}: {len(cells)} cells, {len(cells) - len(todo)} finished earlier, {len(todo)} to run")
        if todo:
            with make_backend(ckpt, backend) as pool:
                for i, cell_cfg in enumerate(todo, 1):
                    folder = out / cell_name(cell_cfg.sigma, cell_cfg.D)
                    run = run_search(ckpt, pset, cell_cfg, backend=pool, progress=progress, parts=folder / "parts",
                                     deterministic=False)
                    det = stored_baseline(ckpt, pset, cell_cfg.D, cfg, out, backend=pool)
                    run.manifest["deterministic"] = baseline_summary(det, pset)
                    save_run(run, folder)
                    resumed = run.manifest.get("resumed_items")
                    earlier = f" ({resumed} work items from an earlier run)" if resumed else ""
                    log(f"[{i}/{len(todo)}] {cell_name(cell_cfg.sigma, cell_cfg.D)}: "
                        f"{run.manifest['wall_seconds']:.1f} s{earlier}")
        return write_summary(out)


def cell_table(out) -> pd.DataFrame:
    """One row per finished cell of the sweep in `out`, sorted by (sigma, D); accuracies in %.

    Columns: sigma, D, K, deterministic, one per selection rule the records support (ptrm.rules: pass@K,
    best-Q@K, mode@K, Q-weighted@K, verified@K where records have the column), seconds/puzzle, GFLOP/puzzle,
    steps/rollout (D unless a stopping rule was on), then each rule's 95% bootstrap interval (`<rule> ci_low`,
    `<rule> ci_high`).
    """
    rows = []
    for manifest in Path(out).glob("sigma=*_D=*/manifest.json"):
        run = load_run(manifest.parent)
        m = run.manifest
        K = m["search"]["K"]
        row = {"sigma": m["search"]["sigma"], "D": m["search"]["D"], "K": K,
               "deterministic": 100 * m["deterministic"]["exact_accuracy"] if "deterministic" in m else np.nan}
        curves = rules.curves(run.records, [K]).set_index("rule")
        intervals = {}
        for rule in curves.index:
            name = rules.get(rule).label()
            row[name] = 100 * curves.at[rule, "accuracy"]
            intervals[f"{name} ci_low"] = 100 * curves.at[rule, "ci_low"]
            intervals[f"{name} ci_high"] = 100 * curves.at[rule, "ci_high"]
        cost = compute_per_puzzle(run)
        row["seconds/puzzle"] = cost["seconds"]
        row["GFLOP/puzzle"] = cost["flops"] / 1e9
        row["steps/rollout"] = cost["steps"] / K
        rows.append({**row, **intervals})
    if not rows:
        raise PtrmError(f"{out}: no finished cells")
    return pd.DataFrame(rows).sort_values(["sigma", "D"]).reset_index(drop=True)


def write_summary(out) -> pd.DataFrame:
    """summary.csv (every column) and summary.md (without the intervals), each written atomically."""
    table = cell_table(out)
    atomic_write_text(Path(out) / "summary.csv", table.to_csv(index=False))
    shown = table[[c for c in table.columns if not c.endswith(("ci_low", "ci_high"))]].astype(object)
    # small numbers: significant digits, not 2 decimals
    for col in ("sigma", "seconds/puzzle", "GFLOP/puzzle", "steps/rollout"):
        shown[col] = [f"{v:.3g}" for v in table[col]]
    atomic_write_text(Path(out) / "summary.md", markdown(shown) + "\n")
    return table
