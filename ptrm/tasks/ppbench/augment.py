"""PPBench augmentation: the 8 dihedral transforms of a board, and the paper's trajectory samples.

Transform t (0..7) transposes the board when t >= 4, then turns it t % 4 quarter turns counter-clockwise
(`np.rot90`). Every grid of the board moves with it; three kinds need more than moving cells:
- heyawake: room ids are renumbered in row-major order of the rooms' first cells, and each room's number moves
  to its room's new first cell (the top-left one: rooms are rectangles);
- shakashaka: a triangle's shaded corner turns with the board (a bottom-left corner turned a quarter
  counter-clockwise is bottom-right);
- tapa clues are run lengths around a cell, which no rotation or reflection changes.

Trajectory samples (PTRM paper, section on PPBench training): the same puzzle shown partly solved, the label
still the full solution. "A random intermediate solve state" is drawn here as a random subset of the cells the
solver decides (the open cells: not clue cells), of a size drawn uniformly from 0 to all-but-one of them.
"""
import numpy as np

from ptrm.errors import PtrmError
from ptrm.tasks.ppbench.board import UNDECIDED, WHITE, Board, canonical_rooms

N_TRANSFORMS = 8
# Shakashaka triangle codes by the position of their shaded corner: [[TL, TR], [BL, BR]].
_CORNER_CODES = np.array([[4, 3], [1, 2]])


def _apply(grid: np.ndarray, t: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(grid.T if t >= 4 else grid, t % 4))


def inverse(t: int) -> int:
    """The transform that undoes t: the opposite turn for the rotations; each reflection undoes itself."""
    return (4 - t) % 4 if t < 4 else t


def _corner_map(t: int) -> np.ndarray:
    """Lookup old shakashaka code -> new code under transform t (0 and 5+ unchanged)."""
    moved = _apply(_CORNER_CODES, t)  # moved[p] is the old corner now at position p, whose code is CORNER[p]
    lut = np.arange(8)
    lut[moved.ravel()] = _CORNER_CODES.ravel()
    return lut


def transform(board: Board, t: int) -> Board:
    """Board under dihedral transform t (see the module docstring); the input is not changed."""
    if not 0 <= t < N_TRANSFORMS:
        raise PtrmError(f"dihedral transform must be 0..7, got {t}")
    clues = _apply(board.clues, t)
    solution = None if board.solution is None else _apply(board.solution, t)
    given = None if board.given is None else _apply(board.given, t)
    rooms = None
    if board.kind == "shakashaka":
        lut = _corner_map(t)
        solution = None if solution is None else lut[solution].astype(solution.dtype)
        given = None if given is None else np.where(given > 0, lut[np.maximum(given, 0)], given).astype(given.dtype)
    if board.rooms is not None:
        rooms = canonical_rooms(_apply(board.rooms, t))
    if board.kind == "heyawake":
        # Each room's number, spread over all its cells, moves with the board; it is then written on the
        # room's new first cell.
        firsts = {}
        for rc in np.ndindex(*board.rooms.shape):
            firsts.setdefault(board.rooms[rc], rc)
        spread = np.array([[board.clues[firsts[k]] for k in row] for row in board.rooms], np.int16)
        spread = _apply(spread, t)
        clues = np.full(clues.shape, -1, np.int16)
        seen = set()
        for rc in np.ndindex(*rooms.shape):
            if rooms[rc] not in seen:
                seen.add(rooms[rc])
                clues[rc] = spread[rc]
    return Board(board.kind, clues, solution, rooms, given)


def open_cells(board: Board) -> np.ndarray:
    """(H, W) bool: the cells a solver decides (not clue cells)."""
    if board.kind in ("lightup", "shakashaka"):
        return board.clues == WHITE
    if board.kind in ("sudoku", "nurikabe"):
        return board.clues == 0
    if board.kind == "tapa":
        return board.clues < 0
    return np.ones(board.clues.shape, bool)


def trajectory_samples(board: Board, n: int, rng: np.random.Generator) -> list[Board]:
    """n copies of `board` with `given` set to a random intermediate solve state (see the module docstring)."""
    if board.solution is None:
        raise PtrmError("trajectory samples need a board with its solution")
    cells = np.argwhere(open_cells(board))
    samples = []
    for _ in range(n):
        shown = cells[rng.permutation(len(cells))[:rng.integers(0, max(len(cells), 1))]]
        given = np.full(board.clues.shape, UNDECIDED, np.int8)
        given[tuple(shown.T)] = board.solution[tuple(shown.T)]
        samples.append(Board(board.kind, board.clues, board.solution, board.rooms, given))
    return samples


def training_examples(board: Board, n_samples: int, rng: np.random.Generator) -> list[Board]:
    """The paper's training examples of one puzzle: the puzzle and n_samples trajectory samples (9 in the
    paper), each under a random dihedral transform."""
    boards = [board] + trajectory_samples(board, n_samples, rng)
    return [transform(b, int(t)) for b, t in zip(boards, rng.integers(0, N_TRANSFORMS, len(boards)))]
