"""A solver per PPBench kind: the rules as CP-SAT models, a solution, and a count of solutions up to 2.

Each kind's rules are written once, as constraints of an OR-Tools CP-SAT model (ptrm.tasks.ppbench.models); the
generators, the uniqueness proof and the tests solve them through here. Sudoku is
the exception: the numba solver of `ptrm.tasks.sudoku` is faster and already counts solutions.

Every model exposes, per cell, one-hot literals `onehot[(r, c)][code]` over the solution codes that cell can
take, so "a solution other than this one" is one clause for every kind. A puzzle is unique when the model
with its clues has a solution and none other than it: `count_solutions(board) == 1`, or, when the solution is
already known, `is_unique(board)` (one solve that must come back infeasible). `rate` gives a difficulty.

Solves run on one worker, so results and branch counts are deterministic for a given model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptrm.errors import PtrmError
from ptrm.tasks import sudoku
from ptrm.tasks.ppbench.board import Board
from ptrm.tasks.ppbench.models import build


@dataclass
class Solved:
    count: int                      # solutions found, at most the limit asked for
    solution: np.ndarray | None     # the first solution found (None when there is none)
    branches: int                   # the search's branches over all solves


# Kinds solved with CP-SAT's presolve: the others' models are small enough that search with propagation alone
# wins (heyawake 1.5x faster without, nurikabe 4.5x slower). Tapa would be 1.4x faster without, but one solve in
# ~1000 then aborts the process inside OR-Tools 9.15 ("Infeasible solution!" check failure).
_PRESOLVE = {"nurikabe", "tapa"}


def _sudoku_digits(board: Board) -> np.ndarray:
    if board.clues.shape != (9, 9):
        raise PtrmError(f"sudoku board is {board.clues.shape}, expected (9, 9)")
    return board.clues.astype(np.uint8).reshape(81)


def count_solutions(board: Board, limit: int = 2) -> Solved:
    """Solve `board` and count its solutions, stopping at `limit` (2 proves or refutes uniqueness)."""
    if board.kind == "sudoku":
        digits = _sudoku_digits(board)
        solution = sudoku.solve(digits)
        count = sudoku.count_solutions(digits, limit)
        return Solved(count, None if solution is None else solution.reshape(9, 9).astype(np.int8),
                      sudoku.rate(digits))  # guesses of its search
    model = build(board)
    first, count, branches = None, 0, 0
    while count < limit:
        found, spent = model.solve(board.kind in _PRESOLVE)
        branches += spent
        if found is None:
            break
        first = found if first is None else first
        count += 1
        model.exclude(found)
    return Solved(count, first, branches)


def solve(board: Board) -> np.ndarray | None:
    """A solution of `board` (codes as in board.py), or None when it has none."""
    return count_solutions(board, limit=1).solution


def satisfies(board: Board, solution: np.ndarray) -> bool:
    """Whether `solution` obeys `board`'s rules and clues (the model with every cell fixed)."""
    if board.kind == "sudoku":
        return bool(sudoku.is_valid_solution(solution.astype(np.uint8).reshape(81), _sudoku_digits(board)))
    model = build(board)
    for rc, lits in model.onehot.items():
        code = int(solution[rc])
        if code not in lits:
            return False
        model.model.add(lits[code] == 1)
    for rc in np.ndindex(*board.clues.shape):  # cells with no variable (clue cells) must hold 0
        if rc not in model.onehot and solution[rc] != 0:
            return False
    return model.solve(board.kind in _PRESOLVE)[0] is not None


def other_solution(board: Board) -> np.ndarray | None:
    """A solution of `board` other than board.solution, or None when there is none: one solve of the model
    that excludes the known solution. None proves board.solution unique, provided it obeys the rules (see
    `satisfies`). Not for sudoku (use `is_unique`)."""
    if board.solution is None:
        raise PtrmError("other_solution needs a board with a solution")
    model = build(board)
    model.exclude(board.solution)
    return model.solve(board.kind in _PRESOLVE)[0]


def is_unique(board: Board) -> bool:
    """Whether board.solution is the board's only solution; see `other_solution`."""
    if board.kind == "sudoku":
        return sudoku.count_solutions(_sudoku_digits(board), 2) == 1
    return other_solution(board) is None


def rate(board: Board) -> int:
    """A unique puzzle's difficulty: the branches the search takes to prove its solution unique; 0 when
    propagation (and, for the kinds in _PRESOLVE, presolve) decides every cell. Sudoku: the guesses of its
    numba search."""
    if board.kind == "sudoku":
        return sudoku.rate(_sudoku_digits(board))
    model = build(board)
    model.exclude(board.solution)
    return model.solve(board.kind in _PRESOLVE)[1]
