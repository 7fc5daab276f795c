"""Adaptive width: rollouts spent where Q says a puzzle is unsolved, in waves, within a budget of rollout-steps.

    wave 0: K0 rollouts (k = 0 .. K0-1) of every puzzle
    wave w: K0 more rollouts (k continuing after the puzzle's last wave) for each puzzle whose best q_halt so
            far is below q_threshold and that has fewer than K (the cap), lowest best Q first,
            as many as the budget left can pay for at D steps each
    until no puzzle qualifies or the budget cannot pay for one more rollout

A rollout's noise depends only on (seed, puzzle, k, step), and wave w's rollouts take the indices after wave
w-1's, so every rollout of a waves run is the rollout of that index in an independent run with the same
settings: `simulate` computes a waves run exactly from an independent run's records, and `run` (what
`ptrm search --mode waves` does) gives the same records. The budget is honoured exactly: a wave is planned at
D steps per rollout (what a rollout costs at most), so the rollout-steps spent never exceed it, and the run
ends only when what is left cannot pay for one more rollout or no puzzle qualifies. Rollouts that stop early
(ptrm.adaptive) leave their unspent steps to later waves. Records say each rollout's `wave`.

Puzzles end with different numbers of rollouts, so the @k estimators (which need K per puzzle) do not apply;
best-Q over each puzzle's rollouts does (`summary`).
"""
import numpy as np
import pandas as pd

from ptrm import metrics
from ptrm.errors import PtrmError
from ptrm.search import WorkItem


def check_budget(cfg, n_puzzles: int, D: int) -> None:
    """Refuse a budget that cannot pay for the first wave (K0 rollouts of every puzzle at D steps)."""
    first = n_puzzles * cfg.k0 * D
    if cfg.budget is not None and cfg.budget < first:
        raise PtrmError(f"--budget {cfg.budget} rollout-steps is below one wave: {n_puzzles} puzzles x K0={cfg.k0} "
                        f"x D={D} = {first}")


def plan(records: pd.DataFrame, cfg, D: int) -> dict:
    """The next wave from the records so far: {puzzle: (k_from, k_to)}, empty when the run is over."""
    seen = records.groupby("puzzle").agg(best=("q_halt", "max"), have=("k", "size"))
    waiting = seen[(seen.best < cfg.q_threshold) & (seen.have < cfg.K)].sort_values("best", kind="stable")
    afford = (cfg.budget - int(records.steps.sum())) // D if cfg.budget is not None else np.inf
    wave = {}
    for p, best, have in waiting.itertuples():
        m = int(min(cfg.k0, cfg.K - have, afford))
        if m < 1:
            break
        wave[int(p)] = (int(have), int(have) + m)
        afford -= m
    return wave


def wave_items(wave: dict, chunk_size: int) -> list:
    """A wave's work items: consecutive puzzles with the same k range share an item of at most chunk_size rows."""
    items, run = [], []
    for p in sorted(wave):
        if run and (p != run[-1] + 1 or wave[p] != wave[run[0]] or
                    (len(run) + 1) * (wave[p][1] - wave[p][0]) > chunk_size):
            items += _split(run, wave[run[0]], chunk_size)
            run = []
        run.append(p)
    return items + (_split(run, wave[run[0]], chunk_size) if run else [])


def _split(puzzles: list, ks: tuple, chunk_size: int) -> list:
    return [WorkItem(puzzles[0], puzzles[-1] + 1, k, min(k + chunk_size, ks[1])) for k in range(ks[0], ks[1], chunk_size)]


def run(backend, pset, items: list, cfg, execution, D: int, done=()):
    """A waves search through `backend` in the ExecutionPlan `execution`, yielding each work item's records with their `wave` (as Backend.map
    does): `items` are wave 0's work items still to run, `done` the records of those already run (a resumed
    search). run_search has checked the budget (`check_budget`)."""
    seen, wave = list(done), 0
    while items:
        for records in backend.map(pset, items, cfg, execution):
            records = records.assign(wave=np.int32(wave))
            seen.append(records)
            yield records
        wave += 1
        items = wave_items(plan(pd.concat(seen, ignore_index=True), cfg, D), cfg.chunk_size)


def simulate(records: pd.DataFrame, cfg, D: int) -> pd.DataFrame:
    """The records of a waves run with settings `cfg`, from an independent run's records with the same
    sigma, D, seed and stopping rule (its rollouts are the waves run's rollouts of the same index)."""
    n = records.puzzle.nunique()
    check_budget(cfg, n, D)
    by_puzzle = {p: g.set_index("k") for p, g in records.groupby("puzzle")}
    have = records[records.k < cfg.k0].assign(wave=np.int32(0))
    if len(have) != n * cfg.k0:
        raise PtrmError(f"the records hold fewer than K0={cfg.k0} rollouts of some puzzle")
    wave = 0
    while (todo := plan(have, cfg, D)):
        wave += 1
        rows = []
        for p, (k0, k1) in todo.items():
            g = by_puzzle[p]
            if not set(range(k0, k1)) <= set(g.index):
                raise PtrmError(f"wave {wave} needs rollouts k {k0}..{k1 - 1} of puzzle {p}; the records hold "
                                f"k < {g.index.max() + 1} of it")
            rows.append(g.loc[k0:k1 - 1].reset_index())
        have = pd.concat([have, *(r.assign(wave=np.int32(wave)) for r in rows)], ignore_index=True)
    return have.sort_values(["puzzle", "k"], kind="stable").reset_index(drop=True)


def check_records(records: pd.DataFrame, n_puzzles: int, cfg) -> None:
    """Refuse records that cannot be a finished waves run: every puzzle has rollouts k = 0..m-1, K0 <= m <= K."""
    counts = records.groupby("puzzle").k.agg(["size", "max"])
    bad = (counts["size"] != counts["max"] + 1) | (counts["size"] < cfg.k0) | (counts["size"] > cfg.K)
    if len(counts) != n_puzzles or bad.any():
        raise PtrmError(f"waves search produced records of {len(counts)} puzzles (expected {n_puzzles}), "
                        f"{int(bad.sum())} with rollouts other than k = 0..m-1, K0={cfg.k0} <= m <= K={cfg.K}; "
                        f"nothing saved")


def summary(records: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """best-Q over each puzzle's rollouts (accuracy % with its 95% bootstrap interval over puzzles), the
    rollouts per puzzle and the waves run."""
    best = metrics.best_q_rows(records)
    mean, (low, high) = best.correct.mean(), metrics.mean_ci(best.correct.to_numpy(), seed=seed)
    per_puzzle = records.groupby("puzzle").size()
    return pd.DataFrame([{"method": "best-Q (adaptive width)", "accuracy": 100 * mean, "ci_low": 100 * low,
                          "ci_high": 100 * high, "rollouts per puzzle": f"{per_puzzle.mean():.1f} "
                          f"({per_puzzle.min()}..{per_puzzle.max()})", "waves": int(records.wave.max()) + 1,
                          "rollout-steps": int(records.steps.sum())}])
