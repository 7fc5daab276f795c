"""Seeded generators of PPBench training puzzles with exactly one solution (sudoku 9x9, the others 10x10).

Every kind follows the same recipe:
1. draw a random solved board (a grid that obeys the kind's rules) from the puzzle's own random stream;
2. give it every clue it can carry (each black cell numbered, each room counted, each white tapa cell a
   clue, each nurikabe island numbered once) and keep it only if the solver proves that solution unique;
3. take clues away in random order while the solution stays unique (`solve.is_unique`), then put a random
   fraction `keep` of them back: keep=0 gives minimal puzzles (the hardest this recipe makes), keep=1 the fully
   clued board (easiest). Nurikabe has no removable clue: every island carries its one number. Sudoku comes
   from `ptrm.tasks.sudoku.generate` (minimal puzzles), with a fraction `keep` of its missing digits put back.

Puzzle i of (kind, seed) comes from its own stream `SeedSequence([kind, seed, i])`, so it is the same
however many puzzles are asked for and whichever process draws it. A draw that fails (a solved board whose
clues allow a second solution, a dead end while drawing) is redrawn from the same stream.
The rating of a puzzle (its difficulty) is `solve.rate(board)`: the branches of its uniqueness proof by a
propagating search (sudoku: guesses of the numba search), 0 when propagation alone decides it.
"""
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import product

import numpy as np
from scipy import ndimage

from ptrm.errors import PtrmError
from ptrm.tasks import sudoku
from ptrm.tasks.ppbench.board import BLACK, KINDS, TAPA_INDEX, WHITE, Board, canonical_rooms
from ptrm.tasks.ppbench.models import RING, neighbours, tapa_clue
from ptrm.tasks.ppbench.solve import is_unique, other_solution

SIZE = 10         # every kind but sudoku is drawn at SIZE x SIZE
_MAX_DRAWS = 200  # solved boards drawn per puzzle before giving up
_MAX_REPAIRS = 30  # per draw


def _connected(cells: np.ndarray) -> bool:
    """Whether the True cells of a boolean grid form one orthogonally connected group (and there is one)."""
    return ndimage.label(cells)[1] == 1  # scipy's default structure is the orthogonal cross


def _has_2x2(cells: np.ndarray) -> bool:
    return bool((cells[:-1, :-1] & cells[1:, :-1] & cells[:-1, 1:] & cells[1:, 1:]).any())


# ----------------------------------------------------------------------------- solved boards, fully clued

def _lit_by(white: np.ndarray, r: int, c: int) -> np.ndarray:
    """The cells a bulb at (r, c) lights: itself and its row and column up to a black cell or the edge."""
    lit = np.zeros(white.shape, bool)
    for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1)):
        rr, cc = r, c
        while 0 <= rr < white.shape[0] and 0 <= cc < white.shape[1] and white[rr, cc]:
            lit[rr, cc] = True
            rr, cc = rr + dr, cc + dc
    return lit


def _lightup(rng: np.random.Generator) -> Board:
    """Random black cells (15-25%), then bulbs on unlit cells in random order until every white cell is lit."""
    white = rng.random((SIZE, SIZE)) >= rng.uniform(0.15, 0.25)
    bulbs = np.zeros((SIZE, SIZE), np.int8)
    lit = ~white
    for r, c in rng.permutation(np.argwhere(white)):
        if not lit[r, c]:  # no bulb sees this cell, so a bulb here sees no other
            bulbs[r, c] = 1
            lit |= _lit_by(white, r, c)
    return _lightup_board(white, bulbs)


def _lightup_board(white: np.ndarray, bulbs: np.ndarray) -> Board | None:
    """Bulbs on a board whose white cells are `white`, every black cell numbered; None unless the bulbs light
    every white cell and none lights another."""
    lit = np.zeros(white.shape, int)
    for r, c in np.argwhere(bulbs == 1):
        lit += _lit_by(white, r, c)
    if bulbs[~white].any() or (lit[bulbs == 1] > 1).any() or not (lit[white] > 0).all():
        return None
    clues = np.where(white, WHITE, 0).astype(np.int16)
    for r, c in np.argwhere(~white):
        clues[r, c] = sum(bulbs[nb] for nb in neighbours(clues.shape, r, c))
    return Board("lightup", clues, bulbs)


def _nurikabe(rng: np.random.Generator) -> Board | None:
    """Islands grown from random seeds to random sizes, then more white cells wherever the wall has a 2x2
    block, always keeping islands apart and the wall connected; each island numbered on a random cell."""
    island = np.full((SIZE, SIZE), -1)

    def whiten(rc, k) -> bool:  # let cell rc join island k (a new id starts one) if the rules allow it
        if island[rc] >= 0 or any(island[nb] not in (-1, k) for nb in neighbours(island.shape, *rc)):
            return False
        island[rc] = k
        if not _connected(island < 0):
            island[rc] = -1
        return island[rc] == k

    for _ in range(rng.integers(10, 20)):  # phase 1: islands grown to 1-6 cells
        k, target = island.max() + 1, rng.integers(1, 7)
        if not whiten(tuple(rng.integers(0, SIZE, 2)), k):
            continue
        while (island == k).sum() < target:
            frontier = sorted({nb for rc in zip(*np.nonzero(island == k)) for nb in neighbours(island.shape, *rc)
                               if island[nb] < 0})
            if not any(whiten(frontier[j], k) for j in rng.permutation(len(frontier))):
                break
    while _has_2x2(island < 0):  # phase 2: whiten a cell of a random 2x2 block of wall
        wall = island < 0
        blocks = np.argwhere(wall[:-1, :-1] & wall[1:, :-1] & wall[:-1, 1:] & wall[1:, 1:])
        r, c = blocks[rng.integers(len(blocks))]
        for rr, cc in rng.permutation([(r, c), (r + 1, c), (r, c + 1), (r + 1, c + 1)]):
            near = {int(island[nb]) for nb in neighbours(island.shape, rr, cc)} - {-1}
            if len(near) <= 1 and whiten((rr, cc), near.pop() if near else island.max() + 1):
                break
        else:
            return None
    return _nurikabe_board(island < 0, np.zeros((SIZE, SIZE), np.int16), rng)


def _nurikabe_board(wall: np.ndarray, old: np.ndarray, rng: np.random.Generator) -> Board:
    """Each island numbered with its size: on its old number's cell if it has one (the first, if several),
    else on a random cell."""
    islands, n = ndimage.label(~wall)
    clues = np.zeros(wall.shape, np.int16)
    for k in range(1, n + 1):
        cells = np.argwhere(islands == k)
        kept = [rc for rc in cells if old[tuple(rc)] > 0]
        r, c = kept[0] if kept else cells[rng.integers(len(cells))]
        clues[r, c] = len(cells)
    return Board("nurikabe", clues, wall.astype(np.int8))


def _rooms(rng: np.random.Generator) -> np.ndarray:
    """A random partition of the board into rectangles of 1-16 cells, ids by first cell in row-major order."""
    rooms = np.zeros((SIZE, SIZE), np.int16)
    todo, n = [(0, 0, SIZE, SIZE)], 0
    while todo:
        r, c, h, w = todo.pop()
        if h * w > 16 or (h * w > 6 and rng.random() < 0.5):
            if h > 1 and (w == 1 or rng.random() < h / (h + w)):
                cut = rng.integers(1, h)
                todo += [(r, c, cut, w), (r + cut, c, h - cut, w)]
            else:
                cut = rng.integers(1, w)
                todo += [(r, c, h, cut), (r, c + cut, h, w - cut)]
            continue
        rooms[r:r + h, c:c + w] = n
        n += 1
    return canonical_rooms(rooms)


def _heyawake_runs(rooms: np.ndarray) -> list[list[tuple[int, int]]]:
    """The cell runs that must hold a shaded cell: from before one room border to after the next, per line."""
    runs = []
    for grid, flip in ((rooms, False), (rooms.T, True)):
        for r in range(grid.shape[0]):
            borders = [c for c in range(grid.shape[1] - 1) if grid[r, c] != grid[r, c + 1]]
            runs += [[(c, r) if flip else (r, c) for c in range(a, b + 2)] for a, b in zip(borders, borders[1:])]
    return runs


def _heyawake_shading(rng: np.random.Generator, runs: list) -> np.ndarray | None:
    """Shaded cells that never touch and keep the white cells connected: first one in each run (random order,
    a random cell of it), then 30-100% of all cells tried in random order; None when a run cannot be shaded."""
    shaded = np.zeros((SIZE, SIZE), bool)

    def shade(rc) -> bool:
        if shaded[rc] or any(shaded[nb] for nb in neighbours(shaded.shape, *rc)):
            return False
        shaded[rc] = True
        if not _connected(~shaded):
            shaded[rc] = False
        return bool(shaded[rc])

    for i in rng.permutation(len(runs)):
        run = runs[i]
        if not any(shaded[rc] for rc in run) and not any(shade(run[j]) for j in rng.permutation(len(run))):
            return None
    order = [tuple(rc) for rc in rng.permutation(np.argwhere(np.ones((SIZE, SIZE))))]
    for rc in order[:int(len(order) * rng.uniform(0.3, 1.0))]:
        shade(rc)
    return shaded


def _heyawake(rng: np.random.Generator) -> Board | None:
    """Random rooms; shaded cells added while none touch and the white cells stay connected: a random
    first one in each run that would cross two room borders, then more at random; every room numbered."""
    rooms = _rooms(rng)
    runs = _heyawake_runs(rooms)
    for _ in range(20):  # greedy shading can corner itself; a few fresh tries on the same rooms
        shaded = _heyawake_shading(rng, runs)
        if shaded is not None:
            break
    else:
        return None
    return _heyawake_board(rooms, shaded.astype(np.int8))


def _heyawake_board(rooms: np.ndarray, shaded: np.ndarray) -> Board:
    """Every room numbered with its shaded count, on its first cell."""
    clues = np.full(rooms.shape, -1, np.int16)
    for k in range(rooms.max() + 1):
        clues[tuple(np.argwhere(rooms == k)[0])] = shaded[rooms == k].sum()
    return Board("heyawake", clues, shaded, rooms=rooms)


def _tapa(rng: np.random.Generator) -> Board:
    """A shaded group grown cell by cell from a random start (never a 2x2 block) to 40-60% of the board;
    every unshaded cell a clue (which makes the solution unique: only the shaded cells are free)."""
    shaded = np.zeros((SIZE, SIZE), bool)
    shaded[tuple(rng.integers(0, SIZE, 2))] = True
    target = int(SIZE * SIZE * rng.uniform(0.4, 0.6))
    while shaded.sum() < target:
        frontier = sorted({nb for rc in zip(*np.nonzero(shaded)) for nb in neighbours(shaded.shape, *rc)
                           if not shaded[nb]})
        for j in rng.permutation(len(frontier)):
            shaded[frontier[j]] = True
            if not _has_2x2(shaded):
                break
            shaded[frontier[j]] = False
        else:
            break
    clues = np.full((SIZE, SIZE), -1, np.int16)
    for r, c in np.argwhere(~shaded):
        ring = tuple(int(0 <= r + dr < SIZE and 0 <= c + dc < SIZE and shaded[r + dr, c + dc]) for dr, dc in RING)
        clues[r, c] = TAPA_INDEX[tapa_clue(ring)]
    return Board("tapa", clues, shaded.astype(np.int8))


# Shakashaka cell states: 0 empty, 1-4 a triangle by its shaded corner (1 BL, 2 BR, 3 TR, 4 TL); the cell edges
# (0 top, 1 right, 2 bottom, 3 left) that are white on their whole length in each state.
_CORNERS = ((1, 0), (1, 1), (0, 1), (0, 0))  # BL, BR, TR, TL as (dy, dx) from the cell's top-left vertex
_WHITE_EDGES = {0: {0, 1, 2, 3}, 1: {0, 1}, 2: {0, 3}, 3: {2, 3}, 4: {1, 2}}


def _diamond(p: int, q: int) -> dict:
    """A 45-degree white rectangle with sides of p and q cell diagonals, as {(r, c): state} from (0, 0): the
    cells with all four corners inside are empty, those with three a triangle shaded at the fourth."""
    cells = {}
    for r, c in product(range(p + q), repeat=2):
        inside = [q <= (c + dx) + (r + dy) <= q + 2 * p and -q <= (c + dx) - (r + dy) <= q
                  for dy, dx in _CORNERS]
        if all(inside):
            cells[r, c] = 0
        elif sum(inside) == 3:
            cells[r, c] = 1 + inside.index(False)
    return cells


def _shakashaka(rng: np.random.Generator) -> Board:
    """White rectangles (upright of 1-3 x 1-3 cells, or 45-degree diamonds of 1-3 x 1-3 diagonals) dropped at
    random free places where no white edge touches another rectangle's; the cells left over are black, each
    numbered with its triangle neighbours."""
    states = np.full((SIZE, SIZE), 5, np.int8)  # 5: not covered (black)
    for _ in range(400):
        if rng.random() < 0.6:
            shape = _diamond(*rng.integers(1, 4, 2))
        else:
            h, w = rng.integers(1, 4, 2)
            shape = {(r, c): 0 for r in range(h) for c in range(w)}
        dr, dc = rng.integers(-2, SIZE, 2)
        placed = {(r + dr, c + dc): s for (r, c), s in shape.items()}
        if not all(0 <= r < SIZE and 0 <= c < SIZE and states[r, c] == 5 for r, c in placed):
            continue
        touching = False
        for (r, c), s in placed.items():
            for edge, (nr, nc) in enumerate(((r - 1, c), (r, c + 1), (r + 1, c), (r, c - 1))):
                if (nr, nc) in placed or not (0 <= nr < SIZE and 0 <= nc < SIZE) or states[nr, nc] == 5:
                    continue
                touching |= edge in _WHITE_EDGES[s] and (edge + 2) % 4 in _WHITE_EDGES[int(states[nr, nc])]
        if not touching:
            for rc, s in placed.items():
                states[rc] = s
    black = states == 5
    clues = np.full((SIZE, SIZE), WHITE, np.int16)
    for r, c in np.argwhere(black):
        clues[r, c] = sum(int(0 < states[nb] < 5) for nb in neighbours(clues.shape, r, c))
    return Board("shakashaka", clues, np.where(black, 0, states).astype(np.int8))


# ----------------------------------------------------------------------------- repairs

# When the fully clued board has a second solution, a repair changes the board at a random cell where the two
# solutions differ, so that the second one breaks while the rules still hold for the first; None: no repair.

def _repair_lightup(board: Board, other: np.ndarray, rng: np.random.Generator) -> Board | None:
    """Turn a cell that holds a bulb only in the other solution into a numbered black cell, if every white cell
    stays lit by our bulbs."""
    for r, c in rng.permutation(np.argwhere((other == 1) & (board.solution == 0))):
        clues = board.clues.copy()
        clues[r, c] = sum(board.solution[nb] for nb in neighbours(clues.shape, r, c))
        fixed = _lightup_board(clues == WHITE, board.solution)
        if fixed is not None:
            return fixed
    return None


def _repair_nurikabe(board: Board, other: np.ndarray, rng: np.random.Generator) -> Board | None:
    """Flip a cell where the solutions differ (wall <-> island) if the wall stays connected and free of 2x2
    blocks; islands are renumbered with their new sizes."""
    for r, c in rng.permutation(np.argwhere(other != board.solution)):
        wall = board.solution.astype(bool)
        wall[r, c] = not wall[r, c]
        if _connected(wall) and not _has_2x2(wall):
            return _nurikabe_board(wall, board.clues, rng)
    return None


def _repair_heyawake(board: Board, other: np.ndarray, rng: np.random.Generator) -> Board | None:
    """Split the room of a cell where the solutions differ in two, if no white run of ours then crosses two
    borders; both halves numbered."""
    for r, c in rng.permutation(np.argwhere(other != board.solution)):
        room = board.rooms == board.rooms[r, c]
        (r0, c0), (r1, c1) = np.argwhere(room).min(0), np.argwhere(room).max(0)
        rows, cols = np.indices(room.shape)
        cuts = [room & (rows >= k) for k in range(r0 + 1, r1 + 1)] + [room & (cols >= k) for k in range(c0 + 1, c1 + 1)]
        for j in rng.permutation(len(cuts)):
            rooms = board.rooms.copy()
            rooms[cuts[j]] = rooms.max() + 1  # the far side of the cut becomes a new room
            rooms = canonical_rooms(rooms)
            if all(board.solution[tuple(zip(*run))].any() for run in _heyawake_runs(rooms)):
                return _heyawake_board(rooms, board.solution)
    return None


_REPAIR = {"lightup": _repair_lightup, "nurikabe": _repair_nurikabe, "heyawake": _repair_heyawake}
_DRAW = {"lightup": _lightup, "nurikabe": _nurikabe, "heyawake": _heyawake, "tapa": _tapa,
         "shakashaka": _shakashaka}
# The value a clue cell takes when its clue is removed (lightup and shakashaka: a plain black cell).
_CLEARED = {"lightup": BLACK, "heyawake": -1, "tapa": -1, "shakashaka": BLACK}


# ----------------------------------------------------------------------------- clue removal and the stream

def _removable(board: Board) -> np.ndarray:
    """The cells whose clue may be taken away, (n, 2)."""
    if board.kind in ("lightup", "shakashaka"):
        return np.argwhere((board.clues >= 0) & (board.clues <= 4))
    if board.kind in ("heyawake", "tapa"):
        return np.argwhere(board.clues >= 0)
    return np.zeros((0, 2), int)


def _minimise(board: Board, rng: np.random.Generator, keep: float) -> Board:
    """Take clues away in random order while the solution stays unique, then put back a random fraction `keep`
    of those taken (more clues never break uniqueness)."""
    if keep >= 1.0:  # all would come back
        return board
    taken = []
    for r, c in rng.permutation(_removable(board)):
        clue = board.clues[r, c]
        board.clues[r, c] = _CLEARED[board.kind]
        if is_unique(board):
            taken.append((r, c, clue))
        else:
            board.clues[r, c] = clue
    for r, c, clue in taken[:int(round(keep * len(taken)))]:
        board.clues[r, c] = clue
    return board


def puzzle_rng(kind: str, seed: int, index: int) -> np.random.Generator:
    """The random stream of puzzle `index` of (kind, seed): independent of how many puzzles are drawn."""
    return np.random.default_rng(np.random.SeedSequence([KINDS.index(kind), seed, index]))


def generate_one(kind: str, seed: int, index: int, keep: float = 0.0) -> Board:
    """Puzzle `index` of (kind, seed): a Board with clues and its one solution (see the module docstring)."""
    if kind not in KINDS:
        raise PtrmError(f"unknown PPBench kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not 0.0 <= keep <= 1.0:
        raise PtrmError(f"keep must be in [0, 1], got {keep}")
    if kind == "sudoku":
        puzzles, solutions, _ = sudoku.generate(1, (KINDS.index(kind), seed, index))  # minimal puzzles
        puzzle, solution = puzzles[0].reshape(9, 9).astype(np.int16), solutions[0].reshape(9, 9).astype(np.int8)
        taken = np.argwhere(puzzle == 0)
        back = taken[puzzle_rng(kind, seed, index).permutation(len(taken))[:int(round(keep * len(taken)))]]
        puzzle[tuple(back.T)] = solution[tuple(back.T)]
        return Board("sudoku", puzzle, solution)
    rng = puzzle_rng(kind, seed, index)
    for _ in range(_MAX_DRAWS):
        board = _DRAW[kind](rng)
        for _ in range(_MAX_REPAIRS):
            if board is None:
                break
            other = other_solution(board)
            if other is None:
                return _minimise(board, rng, keep)
            board = _REPAIR[kind](board, other, rng) if kind in _REPAIR else None
    raise PtrmError(f"no unique {kind} puzzle in {_MAX_DRAWS} draws (seed {seed}, puzzle {index})")


def generate(kind: str, n: int, seed: int, keep: float = 0.0, start: int = 0,
             workers: int = 1) -> Iterator[Board]:
    """Puzzles start .. start+n-1 of (kind, seed), streamed in order; `workers` > 1 draws them in that many
    processes (the same puzzles: each depends only on (kind, seed, index))."""
    draw = partial(generate_one, kind, seed, keep=keep)
    indices = range(start, start + n)
    if workers <= 1:
        yield from map(draw, indices)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(draw, indices, chunksize=4)
