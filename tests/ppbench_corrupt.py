"""Corrupted PPBench boards for the checker-vs-pzpr.js tests: a solved board with a few cells changed."""
import numpy as np

from ptrm.tasks.ppbench.board import WHITE, Board

_CODES = {"sudoku": range(1, 10), "shakashaka": range(5)}  # the rest: 0 / 1


def free_cells(board: Board) -> np.ndarray:
    """Cells whose solution is not fixed by a clue: (n, 2) indices."""
    c = board.clues
    fixed = {"sudoku": c > 0, "lightup": c != WHITE, "shakashaka": c != WHITE, "nurikabe": c != 0,
             "tapa": c >= 0, "heyawake": np.zeros(c.shape, bool)}[board.kind]
    return np.argwhere(~fixed)


def corrupt(board: Board, rng: np.random.Generator) -> Board:
    """A copy with 1-3 edits: a cell set to another code, two cells swapped, or a 1 moved (a bulb, a shaded cell)."""
    sol = board.solution.copy()
    cells = free_cells(board)
    codes = list(_CODES.get(board.kind, range(2)))
    for _ in range(rng.integers(1, 4)):
        edit = rng.integers(3)
        a = tuple(cells[rng.integers(len(cells))])
        if edit == 0:
            sol[a] = rng.choice([v for v in codes if v != sol[a]])
        else:
            b = tuple(cells[rng.integers(len(cells))])
            if edit == 1:
                sol[a], sol[b] = sol[b], sol[a]
            else:
                ones = [tuple(x) for x in cells if sol[tuple(x)] != codes[0]]
                if ones:
                    src = ones[rng.integers(len(ones))]
                    sol[b], sol[src] = sol[src], codes[0]
    return Board(board.kind, board.clues, sol, board.rooms)
