"""Adaptive compute: the rules that stop a rollout before D steps, online (run_work_item) and offline (replay).

The paper runs every rollout for a fixed D supervision steps; that stays the default. Three rules, each off
unless given, spend the steps where they help:

    halt_q   a rollout stops after the first step whose q_halt >= halt_q (it is confident)
    settle   a rollout stops once its answer has been unchanged for `settle` consecutive steps
    stop_q   once any rollout of a puzzle has q_halt >= stop_q after a step, all that puzzle's rollouts
             still running stop there (one confident answer is enough for the puzzle)
    give_up_q  a rollout stops after the first step >= give_up_step whose q_halt <= give_up_q (it is
             confident it is wrong: on our Sudoku model, rollouts with q <= -4 at step 8 end right ~5% of
             the time, and best-Q needs only one rollout of a puzzle to be right)

A stopped rollout keeps the answer, q_halt and correctness of the step it stopped at, and its record says
how many steps it ran (`steps`), from which its FLOPs are counted.

A rollout's trajectory does not depend on when the others stop (its noise is a function of (puzzle, k,
step), see ptrm.noise), so a fixed-D run with per-step records already holds every step an adaptive run
would see: `replay_adaptive` computes the adaptive run's records from it, to choose thresholds on a
selection set without re-running the model.
"""
import numpy as np
import pandas as pd

from ptrm.errors import PtrmError

PER_STEP_COLUMNS = ("q_steps", "correct_steps", "hash_steps")  # [D] arrays per rollout (per_step=True)


def stops(q, unchanged, puzzles, step, halt_q=None, settle=0, stop_q=None, give_up_q=None,
          give_up_step=8) -> np.ndarray:
    """Which of the rollouts that just ran supervision step `step` (1-based) stop after it (bool per rollout).

    q: their q_halt after the step; unchanged: for how many consecutive steps each one's answer has not
    changed (0 if it just changed or this was the first step); puzzles: their puzzle ids. stop_q sees only
    the rollouts passed in, so they must include every running rollout of their puzzles.
    """
    stop = np.zeros(len(q), dtype=bool)
    if give_up_q is not None and step >= give_up_step:
        stop |= q <= give_up_q
    if halt_q is not None:
        stop |= q >= halt_q
    if settle:
        stop |= unchanged >= settle
    if stop_q is not None:
        stop |= np.isin(puzzles, puzzles[q >= stop_q])
    return stop


def replay_adaptive(records: pd.DataFrame, **rule) -> pd.DataFrame:
    """The records an adaptive run (with per_step) would give, from a fixed-D run's per-step records,
    under the stopping rule `rule` (the keyword arguments of `stops`: halt_q, settle, stop_q, give_up_q, ...).

    Needs the per-step columns q_steps, correct_steps and hash_steps (per_step=True) and every rollout
    of each puzzle in `records`. Returns a copy whose steps, q_halt, correct and answer_hash are those
    of the step each rollout stops at, and whose per-step arrays repeat that step's values after it.
    cell_acc is not recorded per step, so it is NaN.
    """
    per_step = _per_step(records, "replay")
    q, hashes = per_step["q_steps"], per_step["hash_steps"]
    n, D = q.shape
    puzzles = records["puzzle"].to_numpy()
    last = np.full(n, D - 1)                # the step each rollout stops at (0-based)
    running = np.ones(n, dtype=bool)
    unchanged = np.zeros(n, dtype=np.int64)
    for t in range(D):
        if t:
            unchanged = np.where(hashes[:, t] == hashes[:, t - 1], unchanged + 1, 0)
        rows = np.flatnonzero(running)
        stopped = rows[stops(q[rows, t], unchanged[rows], puzzles[rows], t + 1, **rule)]
        last[stopped] = t
        running[stopped] = False
    out = _answer_at(records, per_step, last)
    upto = np.minimum(np.arange(D), last[:, None])   # step t reads the stop step's values once stopped
    for c, values in per_step.items():
        out[c] = list(np.take_along_axis(values, upto, 1))
    out["steps"] = (last + 1).astype(np.int32)
    return out


def best_step(records: pd.DataFrame) -> pd.DataFrame:
    """Each rollout's answer at its most confident step (highest q_halt, the earliest on a tie).

    Best-Q over these records is the selector over all (rollout, step) pairs, where best-Q over the records
    themselves sees final steps only: the paper's question whether a rollout that ends wrong held the right
    answer earlier, and whether Q can find it. Compute is unchanged (`steps` stays what each rollout ran);
    `chosen_step` (1-based) says which step's answer a rollout now returns. cell_acc is NaN.
    """
    per_step = _per_step(records, "the (rollout, step) selector")
    chosen = per_step["q_steps"].argmax(axis=1)
    out = _answer_at(records, per_step, chosen)
    out["chosen_step"] = (chosen + 1).astype(np.int32)
    return out


def at_depth(records: pd.DataFrame, D: int) -> pd.DataFrame:
    """The records a fixed run of D steps gives, from a deeper fixed run's per-step records: each rollout's
    answer, q_halt and correctness after step D, and `steps` = D (the noise of a step does not depend on how
    many follow it, so the first D steps of a deeper rollout are the shallower rollout). cell_acc is NaN."""
    per_step = _per_step(records, "depth from per-step records")
    if not 1 <= D <= per_step["q_steps"].shape[1]:
        raise PtrmError(f"depth {D} is not within the run's 1..{per_step['q_steps'].shape[1]} steps")
    out = _answer_at(records, per_step, np.full(len(records), D - 1))
    for c, values in per_step.items():
        out[c] = list(values[:, :D])
    out["steps"] = np.int32(D)
    return out


def _per_step(records: pd.DataFrame, what: str) -> dict:
    """The per-step columns as [rollouts, D] arrays."""
    missing = [c for c in PER_STEP_COLUMNS if c not in records.columns]
    if missing:
        raise PtrmError(f"{what} needs per-step records (a run with --per-step); missing {', '.join(missing)}")
    return {c: np.stack(records[c].to_numpy()) for c in PER_STEP_COLUMNS}


def _answer_at(records: pd.DataFrame, per_step: dict, step: np.ndarray) -> pd.DataFrame:
    """A copy of `records` whose q_halt, correct and answer_hash are those of each rollout's step `step`
    (0-based); cell_acc is not recorded per step, so it is NaN."""
    rows = np.arange(len(records))
    out = records.copy()
    out["q_halt"] = per_step["q_steps"][rows, step].astype(np.float64)
    out["correct"] = per_step["correct_steps"][rows, step]
    out["cell_acc"] = np.nan
    out["answer_hash"] = per_step["hash_steps"][rows, step]
    return out
