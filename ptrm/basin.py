"""Basin escape (the paper's Figure 5): the final states of K noisy rollouts of one puzzle that the
deterministic TRM fails, beside the deterministic state. Computed here; drawn by plots.basin_figure."""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.plan import ExecutionPlan
from ptrm.search import LastStep, SearchConfig, WorkItem, run_work_item, work_items

DEFAULTS = dict(K=100, sigma=0.3)  # wider and noisier than a search's defaults: the figure shows an escape


@dataclass
class Basin:
    puzzle: int                 # index in the puzzle set
    records: pd.DataFrame       # the K rollouts of that puzzle (as `ptrm search` would record them)
    states: np.ndarray          # [K, hidden] final zH, token 0 (the Q head's input)
    det_state: np.ndarray       # [hidden] the deterministic TRM's final state on the same puzzle
    det_correct: bool
    settings: str               # title line


def basin_states(ckpt, pset, cfg: SearchConfig, puzzle: int | None = None, max_tries: int = 10) -> Basin:
    """K noisy rollouts of one puzzle, with their final states.

    Without `puzzle`, takes the first puzzle the deterministic TRM fails on which at least one rollout
    escapes (trying at most max_tries failed puzzles, else the first failed one): the figure is meant to
    show an escape. Rollout noise is seeded by the puzzle's index in `pset`, so the rollouts equal those
    of `ptrm search` on the same set and settings.
    """
    cfg = replace(cfg, D=cfg.D or ckpt.cfg.halt_max_steps, per_step=False).validate()
    if puzzle is not None and not 0 <= puzzle < len(pset):
        raise PtrmError(f"--puzzle {puzzle} is outside 0..{len(pset) - 1}")
    plan = ExecutionPlan.resolve(ckpt.model.device, cfg.dtype, cfg.chunk_size)
    det_cfg = replace(cfg, K=1, sigma=0.0)
    items = ([WorkItem(puzzle, puzzle + 1, 0, 1)] if puzzle is not None
             else work_items(len(pset), 1, plan.chunk_size))
    parts, last = [], []
    for it in items:
        last.append(LastStep())
        parts.append(run_work_item(ckpt.model, pset, it, det_cfg, plan, observe=last[-1]))
    det = pd.concat(parts, ignore_index=True)
    det_states = np.concatenate([seen.states for seen in last])  # row i = det row i
    candidates = [puzzle] if puzzle is not None else list(det.puzzle[~det.correct])[:max_tries]
    if not candidates:
        raise PtrmError(f"the deterministic TRM solves all {len(pset)} puzzles: none to escape from")
    first = None
    for p in candidates:
        seen = LastStep()
        rec = run_work_item(ckpt.model, pset, WorkItem(p, p + 1, 0, cfg.K), cfg, plan, observe=seen)
        if rec.correct.any():
            break
        first = first or (p, rec, seen)
    else:  # nothing escaped anywhere: show the first failed puzzle
        p, rec, seen = first
    title = (f"{Path(ckpt.path).name} · σ={cfg.sigma:g} · D={cfg.D} · K={cfg.K} · noise on {cfg.noise_on} "
             f"· seed {cfg.seed} · puzzle {p} of {Path(pset.source).name}")
    i = int(np.flatnonzero(det.puzzle == p)[0])
    return Basin(int(p), rec, seen.states, det_states[i], bool(det.correct[i]), title)
