"""The rules of each PPBench kind as an OR-Tools CP-SAT model over the cells of a `Board` (codes in `board.py`).

Every model exposes, per cell, one-hot literals `onehot[(r, c)][code]` over the solution codes that cell can
take, so "a solution other than this one" is one clause for every kind (ptrm.tasks.ppbench.solve asks it).

Connectivity (nurikabe's wall, heyawake's white cells, tapa's shaded cells) uses levels: the first chosen
cell in row-major order is the root (level 0) and every other chosen cell has a chosen neighbour of lower
level, so each one reaches the root. Fixing the root this way keeps one assignment of the rules per board.
(Measured against lazy connectivity cuts, which re-solve after each split found: levels were 10x faster on
nurikabe, 1.5x on tapa, 0.8x on heyawake.)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

try:  # only drawing new puzzles needs OR-Tools: reading, checking and training on drawn ones work without it
    from ortools.sat.python import cp_model
except ImportError:
    cp_model = None

from ptrm.errors import PtrmError
from ptrm.tasks.ppbench.board import TAPA_INDEX, UNKNOWN, WHITE, Board

_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))
# Tapa: a cell's 8 neighbours in clockwise order around it, so shaded runs are runs of this ring.
RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def neighbours(shape, r, c):
    """The orthogonal neighbours of (r, c) that lie on a board of this shape."""
    h, w = shape
    return [(r + dr, c + dc) for dr, dc in _STEPS if 0 <= r + dr < h and 0 <= c + dc < w]


def tapa_clue(ring: tuple[int, ...]) -> tuple[int, ...]:
    """The clue of 8 ring cells (1 shaded, 0 not; off-board cells count as 0): shaded run lengths, descending."""
    if all(ring):
        return (8,)
    if not any(ring):
        return (0,)
    return tuple(sorted(_runs(ring), reverse=True))


def _runs(ring) -> list[int]:
    """The lengths of the runs of true entries around a cyclic ring that holds at least one false entry."""
    start = list(ring).index(False)  # start the walk on a false entry so no run wraps around
    runs, run = [], 0
    for k in range(1, len(ring) + 1):
        if ring[(start + k) % len(ring)]:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return runs + ([run] if run else [])


# ----------------------------------------------------------------------------- shakashaka's corners

# Shakashaka cell states: 0 empty (white), 1-4 a triangle by its shaded corner, 5 black (a clue cell or off-board).
_TL, _TR, _BR, _BL = "TL", "TR", "BR", "BL"
_SHADED_CORNER = {1: _BL, 2: _BR, 3: _TR, 4: _TL}
_OPPOSITE = {_TL: _BR, _BR: _TL, _TR: _BL, _BL: _TR}
_EDGE_CORNERS = {"top": (_TL, _TR), "right": (_TR, _BR), "bottom": (_BL, _BR), "left": (_TL, _BL)}
# Around a grid vertex, clockwise from north: the NE, SE, SW and NW cells; each fills a quarter turn made of
# two eighths, named by the cell edge each eighth lies against.
_QUARTERS = (("left", "bottom"), ("top", "left"), ("right", "top"), ("bottom", "right"))


def _white_eighth(state: int, edge: str) -> bool:
    """Whether the eighth of a cell corner that lies against `edge` is white in this cell state."""
    if state == 0:
        return True
    if state == 5:
        return False
    return _OPPOSITE[_SHADED_CORNER[state]] in _EDGE_CORNERS[edge]  # the white half holds the opposite corner


def _vertex_ok(states: tuple[int, int, int, int]) -> bool:
    """Whether four cells (NE, SE, SW, NW) meet at a vertex as rectangles do: each white arc around the vertex
    is a right angle (2 eighths) or straight (4), or the vertex lies inside a white area (all 8)."""
    ring = [_white_eighth(s, edge) for s, edges in zip(states, _QUARTERS) for edge in edges]
    if all(ring) or not any(ring):
        return True
    return all(a in (2, 4) for a in _runs(ring))


VERTEX_OK = frozenset(s for s in product(range(6), repeat=4) if _vertex_ok(s))


# ----------------------------------------------------------------------------- models

def _solver(presolve: bool) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # deterministic, and the machine is shared
    solver.parameters.cp_model_presolve = presolve
    return solver


@dataclass
class Model:
    """A CP-SAT model of one board's rules, with the one-hot literals of each cell's solution code."""
    model: cp_model.CpModel
    onehot: dict  # (r, c) -> {code: literal}
    shape: tuple[int, int]

    def exclude(self, solution: np.ndarray) -> None:
        """Forbid one assignment of the solution codes: some cell must differ from `solution`."""
        self.model.add_bool_or([lits[int(solution[rc])].negated() for rc, lits in self.onehot.items()
                              if int(solution[rc]) in lits and len(lits) > 1])

    def solve(self, presolve: bool = False) -> tuple[np.ndarray | None, int]:
        """(a solution or None when there is none, the search's branches)."""
        solver = _solver(presolve)
        status = solver.solve(self.model)
        found = self.read(solver) if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
        return found, solver.num_branches

    def read(self, solver: cp_model.CpSolver) -> np.ndarray:
        out = np.zeros(self.shape, np.int8)
        for rc, lits in self.onehot.items():
            out[rc] = next(code for code, lit in lits.items() if solver.boolean_value(lit))
        return out


def _binary(m: cp_model.CpModel, shape, fixed_zero=()) -> tuple[dict, dict]:
    """A 0/1 variable per cell (1 = shaded / bulb), fixed to 0 on `fixed_zero`; and its one-hot view."""
    x = {}
    for rc in np.ndindex(*shape):
        x[rc] = m.new_bool_var(f"x{rc}")
        if rc in fixed_zero:
            m.add(x[rc] == 0)
    return x, {rc: {0: v.negated(), 1: v} for rc, v in x.items()}


def _connected(m: cp_model.CpModel, shape, chosen: dict) -> None:
    """The chosen cells (literal per cell) are one orthogonally connected group (at least one cell)."""
    cells = list(np.ndindex(*shape))
    level = {rc: m.new_int_var(0, len(cells) - 1, f"lvl{rc}") for rc in cells}
    none_before = m.new_constant(1)
    roots = []
    for rc in cells:
        root = m.new_bool_var(f"root{rc}")  # the first chosen cell in row-major order
        m.add_bool_and([none_before, chosen[rc]]).only_enforce_if(root)
        m.add_bool_or([none_before.negated(), chosen[rc].negated(), root])
        m.add(level[rc] == 0).only_enforce_if(root)
        roots.append(root)
        parents = []
        for nb in neighbours(shape, *rc):
            p = m.new_bool_var(f"par{rc}{nb}")
            m.add_implication(p, chosen[nb])
            m.add(level[nb] < level[rc]).only_enforce_if(p)
            parents.append(p)
        m.add_bool_or(parents + [chosen[rc].negated(), root])  # a chosen non-root cell has a lower chosen neighbour
        nxt = m.new_bool_var(f"nb{rc}")
        m.add_bool_and([none_before, chosen[rc].negated()]).only_enforce_if(nxt)
        m.add_bool_or([none_before.negated(), chosen[rc], nxt])
        none_before = nxt
    m.add_exactly_one(roots)


def _no_2x2(m: cp_model.CpModel, shape, x: dict) -> None:
    h, w = shape
    for r, c in product(range(h - 1), range(w - 1)):
        m.add_bool_or([x[r, c].negated(), x[r + 1, c].negated(), x[r, c + 1].negated(), x[r + 1, c + 1].negated()])


def _lightup(m, board: Board) -> dict:
    clues = board.clues
    black = {rc for rc in np.ndindex(*clues.shape) if clues[rc] != WHITE}
    x, onehot = _binary(m, clues.shape, fixed_zero=black)
    for rc in black:
        del onehot[rc]
        if 0 <= clues[rc] <= 4:
            m.add(sum(x[nb] for nb in neighbours(clues.shape, *rc)) == int(clues[rc]))
    # Bulbs see along their row and column up to a black cell: a white run holds at most one bulb, and each
    # white cell needs a bulb in its row run or its column run (itself included).
    runs = {}
    for grid, flip in ((clues, False), (clues.T, True)):
        for r in range(grid.shape[0]):
            run = []
            for c in range(grid.shape[1] + 1):
                if c < grid.shape[1] and grid[r, c] == WHITE:
                    run.append((c, r) if flip else (r, c))
                elif run:
                    m.add_at_most_one([x[rc] for rc in run])
                    for rc in run:
                        runs.setdefault(rc, set()).update(run)
                    run = []
    for rc, seen in runs.items():
        m.add_bool_or([x[s] for s in seen])
    return onehot


def _nurikabe(m, board: Board) -> dict:
    clues = board.clues
    numbered = [rc for rc in np.ndindex(*clues.shape) if clues[rc] != 0]
    if any(clues[rc] == UNKNOWN for rc in numbered):
        raise PtrmError("nurikabe '?' clues are not supported by the solver")
    wall, onehot = _binary(m, clues.shape, fixed_zero=set(numbered))
    _connected(m, clues.shape, wall)
    _no_2x2(m, clues.shape, wall)
    # Each white cell belongs to one numbered island (a label k per white cell); white neighbours share it; the
    # island of clue k has clues[k] cells and is connected (levels: distance to the clue along the island).
    label = {}
    for k, (kr, kc) in enumerate(numbered):
        size = int(clues[kr, kc])
        for rc in np.ndindex(*clues.shape):
            if abs(rc[0] - kr) + abs(rc[1] - kc) < size:
                label[rc, k] = m.new_bool_var(f"lab{rc}{k}")
        m.add(label[(kr, kc), k] == 1)
        m.add(sum(v for (rc, kk), v in label.items() if kk == k) == size)
    max_size = max([int(clues[rc]) for rc in numbered], default=1)
    level = {rc: m.new_int_var(0, max_size - 1, f"dist{rc}") for rc in np.ndindex(*clues.shape)}
    for rc in np.ndindex(*clues.shape):
        mine = [v for (cell, k), v in label.items() if cell == rc]
        m.add(sum(mine) == 1).only_enforce_if(wall[rc].negated())
        m.add(sum(mine) == 0).only_enforce_if(wall[rc])
        for nb in neighbours(clues.shape, *rc):
            for k in range(len(numbered)):
                if (rc, k) in label:  # white neighbours of a cell labelled k are labelled k too
                    same = [label[nb, k]] if (nb, k) in label else []
                    m.add_bool_or([label[rc, k].negated(), wall[nb]] + same)
        if rc in numbered:
            m.add(level[rc] == 0)
            continue
        parents = []
        for nb in neighbours(clues.shape, *rc):
            p = m.new_bool_var(f"up{rc}{nb}")
            m.add_implication(p, wall[nb].negated())
            m.add(level[nb] < level[rc]).only_enforce_if(p)
            parents.append(p)
        m.add_bool_or(parents + [wall[rc]])
    return onehot


def _heyawake(m, board: Board) -> dict:
    clues, rooms = board.clues, board.rooms
    if rooms is None or rooms.shape != clues.shape:
        raise PtrmError("heyawake board needs a rooms grid of the clues' shape")
    shaded, onehot = _binary(m, clues.shape)
    for rc in np.ndindex(*clues.shape):
        for nb in neighbours(clues.shape, *rc):
            if nb > rc:
                m.add_bool_or([shaded[rc].negated(), shaded[nb].negated()])
    _connected(m, clues.shape, {rc: v.negated() for rc, v in shaded.items()})
    for rc in np.ndindex(*clues.shape):
        if clues[rc] >= 0:
            m.add(sum(shaded[cell] for cell in zip(*np.nonzero(rooms == rooms[rc]))) == int(clues[rc]))
    # No white run crosses two room borders: between consecutive borders of a row (column), from the cell
    # before the first to the cell after the second, some cell is shaded.
    for grid, flip in ((rooms, False), (rooms.T, True)):
        for r in range(grid.shape[0]):
            borders = [c for c in range(grid.shape[1] - 1) if grid[r, c] != grid[r, c + 1]]
            for a, b in zip(borders, borders[1:]):
                m.add_bool_or([shaded[(c, r) if flip else (r, c)] for c in range(a, b + 2)])
    return onehot


@lru_cache(maxsize=None)
def _tapa_patterns(clue: int, on: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The shadings of the on-board ring cells `on` (indices into RING) that give tapa clue `clue`."""
    allowed = []
    for bits in product((0, 1), repeat=len(on)):
        ring = [0] * 8
        for i, b in zip(on, bits):
            ring[i] = b
        if TAPA_INDEX.get(tapa_clue(tuple(ring))) == clue:
            allowed.append(bits)
    return allowed


def _tapa(m, board: Board) -> dict:
    clues = board.clues
    h, w = clues.shape
    numbered = {rc for rc in np.ndindex(h, w) if clues[rc] >= 0}
    shaded, onehot = _binary(m, clues.shape, fixed_zero=numbered)
    for rc in numbered:
        del onehot[rc]
    _connected(m, clues.shape, shaded)
    _no_2x2(m, clues.shape, shaded)
    for r, c in numbered:
        ring = [(r + dr, c + dc) for dr, dc in RING]
        on = [i for i, (rr, cc) in enumerate(ring) if 0 <= rr < h and 0 <= cc < w]
        allowed = _tapa_patterns(int(clues[r, c]), tuple(on))
        m.add_allowed_assignments([shaded[ring[i]] for i in on], allowed)
    return onehot


def shakashaka_states(m, shape, black: set) -> dict:
    """Cell states (0 empty, 1-4 triangles, 5 black) for a shakashaka grid whose black cells are `black`
    (None: any cell may be black), with the vertex rule that makes every white area a rectangle."""
    h, w = shape
    state, onehot = {}, {}
    for rc in np.ndindex(h, w):
        if black is not None and rc in black:
            continue
        codes = range(5) if black is not None else range(6)
        onehot[rc] = {k: m.new_bool_var(f"s{rc}{k}") for k in codes}
        m.add_exactly_one(onehot[rc].values())
        state[rc] = m.new_int_var(0, 5, f"s{rc}")
        m.add(state[rc] == sum(k * v for k, v in onehot[rc].items()))
    for vr, vc in product(range(h + 1), range(w + 1)):
        around = [(vr - 1, vc), (vr, vc), (vr, vc - 1), (vr - 1, vc - 1)]  # NE, SE, SW, NW
        fixed = [None if rc in state else 5 for rc in around]  # off-board and black cells are black
        free = [rc for rc in around if rc in state]
        if not free:
            continue
        allowed = {tuple(s for s, f in zip(t, fixed) if f is None) for t in VERTEX_OK
                   if all(f is None or s == f for s, f in zip(t, fixed))}
        m.add_allowed_assignments([state[rc] for rc in free], sorted(allowed))
    return onehot


def _shakashaka(m, board: Board) -> dict:
    clues = board.clues
    black = {rc for rc in np.ndindex(*clues.shape) if clues[rc] != WHITE}
    onehot = shakashaka_states(m, clues.shape, black)
    for rc in black:
        if 0 <= clues[rc] <= 4:
            m.add(sum(onehot[nb][0].negated() for nb in neighbours(clues.shape, *rc) if nb in onehot)
                  == int(clues[rc]))
    return onehot


_BUILDERS = {"lightup": _lightup, "nurikabe": _nurikabe, "heyawake": _heyawake, "tapa": _tapa,
             "shakashaka": _shakashaka}


def build(board: Board) -> Model:
    """The CP-SAT model of `board`'s rules and clues (not sudoku: see `ptrm.tasks.sudoku`)."""
    if board.kind not in _BUILDERS:
        raise PtrmError(f"no CP-SAT model for kind {board.kind!r}; kinds: {', '.join(_BUILDERS)}")
    if cp_model is None:
        raise PtrmError(f"solving {board.kind} puzzles needs OR-Tools, which is not installed: pip install 'ptrm[ppbench]'")
    m = cp_model.CpModel()
    return Model(m, _BUILDERS[board.kind](m, board), board.clues.shape)
