"""Each PPBench kind's rules as code: is a solution right? Vectorised over a batch of boards of one kind.

`check(kind, clues, solutions, rooms)` takes (B, H, W) arrays in the codes of ptrm.tasks.ppbench.board (clues
and rooms may be one (H, W) grid shared by the batch) and returns (B,) bool. The rules are pzpr.js's checks
(`pzpr-variety/<kind>.js`, the engine puzz.link and PPBench score with), and tests hold the two in agreement on
the golden set and on thousands of corrupted boards. One strictness of ours: a clue cell whose solution is
fixed (a black cell, a number in nurikabe or tapa, a given digit) must hold that value (0 / the digit), where
pzpr.js, which cannot express anything else there, never looks. Codes outside a kind's range fail.

Connectivity (islands, white areas, rooms) comes from one numba flood fill, `label`, over per-board edges;
everything else is numpy over the whole batch.
"""
import numpy as np
from numba import njit

from ptrm.errors import PtrmError
from ptrm.tasks import sudoku
from ptrm.tasks.ppbench.board import KINDS, TAPA_INDEX, WHITE


@njit(cache=True)
def _label(node, right, down):
    """Connected components of each board: labels (B, H, W), -1 off `node`, else a component id that is
    unique across the batch (so bincounts over labels need no offsets). right[b, r, c]: (r, c)-(r, c+1) joins;
    down[b, r, c]: (r, c)-(r+1, c) joins."""
    B, H, W = node.shape
    labels = np.full((B, H, W), -1, np.int64)
    stack = np.empty((H * W, 2), np.int64)
    next_id = 0
    for b in range(B):
        for r0 in range(H):
            for c0 in range(W):
                if not node[b, r0, c0] or labels[b, r0, c0] >= 0:
                    continue
                labels[b, r0, c0] = next_id
                stack[0, 0], stack[0, 1] = r0, c0
                top = 1
                while top:
                    top -= 1
                    r, c = stack[top, 0], stack[top, 1]
                    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                        rr, cc = r + dr, c + dc
                        if rr < 0 or rr >= H or cc < 0 or cc >= W or not node[b, rr, cc] or labels[b, rr, cc] >= 0:
                            continue
                        if dc == 1 and not right[b, r, c] or dc == -1 and not right[b, r, cc]:
                            continue
                        if dr == 1 and not down[b, r, c] or dr == -1 and not down[b, rr, c]:
                            continue
                        labels[b, rr, cc] = next_id
                        stack[top, 0], stack[top, 1] = rr, cc
                        top += 1
                next_id += 1
    return labels


def label(node: np.ndarray, right: np.ndarray | None = None, down: np.ndarray | None = None) -> np.ndarray:
    """Components of the cells `node` (B, H, W) joined 4-way (where `right`/`down` allow); see _label."""
    node = np.ascontiguousarray(node, bool)
    B, H, W = node.shape
    right = np.ones((B, H, max(W - 1, 0)), bool) if right is None else right
    down = np.ones((B, max(H - 1, 0), W), bool) if down is None else down
    # Pad the edge arrays to (B, H, W) so the kernel never indexes past them.
    right = np.pad(np.asarray(right, bool), ((0, 0), (0, 0), (0, 1)))
    down = np.pad(np.asarray(down, bool), ((0, 0), (0, 1), (0, 0)))
    return _label(node, right, down)


def _components(labels: np.ndarray) -> int:
    return int(labels.max(initial=-1)) + 1


def _per_board(labels: np.ndarray) -> np.ndarray:
    """How many components each board has."""
    B = len(labels)
    board_of = np.broadcast_to(np.arange(B)[:, None, None], labels.shape)
    first = np.zeros(_components(labels), np.int64)
    first[labels[labels >= 0]] = board_of[labels >= 0]
    return np.bincount(first, minlength=B) if len(first) else np.zeros(B, np.int64)


def _any_per_component(labels: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """(B,) bool: some component of the board has `bad` (a per-component bool array) set."""
    B = len(labels)
    hit = np.zeros(labels.shape, bool)
    inside = labels >= 0
    hit[inside] = bad[labels[inside]]
    return hit.reshape(B, -1).any(1)


def _neighbours4(x: np.ndarray) -> np.ndarray:
    """Sum over each cell's four orthogonal neighbours (off-board counts 0)."""
    p = np.pad(x.astype(np.int64), ((0, 0), (1, 1), (1, 1)))
    return p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]


def _no_2x2(shaded: np.ndarray) -> np.ndarray:
    s = shaded
    return ~(s[:, :-1, :-1] & s[:, 1:, :-1] & s[:, :-1, 1:] & s[:, 1:, 1:]).reshape(len(s), -1).any(1)


def _connected(cells: np.ndarray) -> np.ndarray:
    """(B,) bool: the marked cells form at most one 4-connected group."""
    return _per_board(label(cells)) <= 1


def _segment_sums(values: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Per cell, the sum of `values` over its segment of its row: a `breaks` cell and the cells after it,
    up to the next break (B, H, W)."""
    B, H, W = values.shape
    segment = np.cumsum(breaks, axis=2) + (np.arange(B * H) * (W + 1)).reshape(B, H, 1)
    sums = np.bincount(segment.ravel(), values.ravel().astype(np.int64), minlength=B * H * (W + 1))
    return sums[segment]


def _ok(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).all(1)


# ----------------------------------------------------------------------------- the rules, kind by kind

def _sudoku(clues, sol, rooms):
    B = len(sol)
    if sol.shape[1:] != (9, 9):
        raise PtrmError(f"sudoku boards must be 9x9, got {sol.shape[1]}x{sol.shape[2]}")
    return sudoku.valid_solutions(sol.reshape(B, 81), clues.reshape(B, 81))


def _lightup(clues, sol, rooms):
    white = clues == WHITE
    valid = _ok(((sol == 0) | (sol == 1)) & (white | (sol == 0)))
    bulb = (sol == 1) & white
    # Bulbs seen by each cell along its row and along its column (lines split by black cells).
    lit_by = _segment_sums(bulb, ~white) + _segment_sums(bulb.transpose(0, 2, 1), ~white.transpose(0, 2, 1)
                                                         ).transpose(0, 2, 1)
    # A bulb sees itself once per axis: 2 means it sees no other bulb; every white cell must be lit.
    no_duplicate = _ok(~bulb | (lit_by == 2))
    all_lit = _ok(~white | (lit_by > 0))
    numbered = (clues >= 0) & (clues <= 4)
    numbers = _ok(~numbered | (_neighbours4(bulb) == clues))
    return valid & no_duplicate & all_lit & numbers


def _nurikabe(clues, sol, rooms):
    numbered = clues != 0
    valid = _ok(((sol == 0) | (sol == 1)) & (~numbered | (sol == 0)))
    shaded = sol == 1
    islands = label(~shaded)
    n = _components(islands)
    inside = islands >= 0
    numbers = np.bincount(islands[inside], numbered[inside], minlength=n)
    size = np.bincount(islands[inside], minlength=n)
    target = np.zeros(n, np.int64)
    np.maximum.at(target, islands[inside & numbered], clues[inside & numbered])  # '?' (-2) leaves 0: any size
    bad = (numbers != 1) | ((target > 0) & (size != target))
    return valid & _no_2x2(shaded) & _connected(shaded) & ~_any_per_component(islands, bad)


def _heyawake(clues, sol, rooms):
    B, H, W = sol.shape
    valid = _ok((sol == 0) | (sol == 1))
    shaded = sol == 1
    exists = shaded.reshape(B, -1).any(1)
    adjacent = (shaded[:, :, 1:] & shaded[:, :, :-1]).reshape(B, -1).any(1) | \
               (shaded[:, 1:] & shaded[:, :-1]).reshape(B, -1).any(1)
    connected = _connected(~shaded)
    # Room counts: room ids made unique across the batch; a room's clue sits in one of its cells.
    room = rooms.astype(np.int64) + np.arange(B)[:, None, None] * H * W
    count = np.bincount(room.ravel(), shaded.ravel(), minlength=B * H * W)
    clue = np.full(B * H * W, -1, np.int64)
    np.maximum.at(clue, room.ravel(), clues.ravel().astype(np.int64))
    counts_ok = ~((clue >= 0) & (count != clue)).reshape(B, -1).any(1)
    # A run of unshaded cells along a row or column may cross at most one room border.
    runs_ok = np.ones(B, bool)
    for s, r in ((shaded, room), (shaded.transpose(0, 2, 1), room.transpose(0, 2, 1))):
        crossing = np.zeros(s.shape, bool)  # at (r, c): an unshaded step from c to c+1 into another room
        crossing[:, :, :-1] = ~s[:, :, 1:] & ~s[:, :, :-1] & (r[:, :, 1:] != r[:, :, :-1])
        runs_ok &= _ok(_segment_sums(crossing, s) <= 1)
    return valid & exists & ~adjacent & connected & counts_ok & runs_ok


def _ring_clues() -> np.ndarray:
    """Tapa: the clue (index into TAPA_CLUES) that each 8-bit ring of neighbours shows."""
    table = np.zeros(256, np.int64)
    for bits in range(256):
        ring = [(bits >> i) & 1 for i in range(8)]
        if all(ring):
            runs = [8]
        else:
            start = ring.index(0)  # read the ring from an unshaded cell so no run wraps around
            runs, length = [], 0
            for v in ring[start:] + ring[:start]:
                if v:
                    length += 1
                elif length:
                    runs.append(length)
                    length = 0
            if length:
                runs.append(length)
        table[bits] = TAPA_INDEX[tuple(sorted(runs, reverse=True)) if runs else (0,)]
    return table


_RING = _ring_clues()
_AROUND = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))  # clockwise from top-left


def _tapa(clues, sol, rooms):
    B, H, W = sol.shape
    numbered = clues >= 0
    valid = _ok(((sol == 0) | (sol == 1)) & (~numbered | (sol == 0)))
    shaded = sol == 1
    p = np.pad(shaded, ((0, 0), (1, 1), (1, 1)))
    bits = sum(p[:, 1 + dr:1 + dr + H, 1 + dc:1 + dc + W].astype(np.int64) << i for i, (dr, dc) in enumerate(_AROUND))
    clues_ok = _ok(~numbered | (_RING[bits] == clues))
    exists = shaded.reshape(B, -1).any(1)
    return valid & exists & _no_2x2(shaded) & clues_ok & _connected(shaded)


# Shakashaka: which sides of a cell are white, per code (0 empty; 1-4 a triangle whose shaded corner is
# bottom-left, bottom-right, top-right, top-left): columns top, bottom, left, right.
_WHITE_SIDES = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]], bool)


def _shakashaka(clues, sol, rooms):
    B, H, W = sol.shape
    white = clues == WHITE
    valid = _ok((sol >= 0) & (sol <= 4) & (white | (sol == 0)))
    code = np.clip(sol, 0, 4)
    top, bottom, left, right = (_WHITE_SIDES[code, i] & white for i in range(4))
    triangle = (code > 0) & white
    numbered = (clues >= 0) & (clues <= 4)
    numbers = _ok(~numbered | (_neighbours4(triangle) == clues))
    exists = triangle.reshape(B, -1).any(1)
    # White areas: cells joined through white sides; each must be a rectangle, upright or at 45 degrees.
    areas = label(white, right[:, :, :-1] & left[:, :, 1:], bottom[:, :-1] & top[:, 1:])
    n = _components(areas)
    inside = areas >= 0
    comp = areas[inside]
    # Upright: no triangle, and as many cells as its bounding box.
    r_idx = np.broadcast_to(np.arange(H)[None, :, None], sol.shape)[inside]
    c_idx = np.broadcast_to(np.arange(W)[None, None, :], sol.shape)[inside]
    box = []
    for idx in (r_idx, c_idx):
        lo, hi = np.full(n, H + W), np.full(n, -1)
        np.minimum.at(lo, comp, idx)
        np.maximum.at(hi, comp, idx)
        box.append(hi - lo + 1)
    empties = np.bincount(comp, code[inside] == 0, minlength=n)
    upright = box[0] * box[1] == empties
    # Slanted: every side of every cell is white exactly where the neighbour across it is in the same area.
    p = np.pad(areas, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    same = [p[:, :-2, 1:-1] == areas, p[:, 2:, 1:-1] == areas, p[:, 1:-1, :-2] == areas, p[:, 1:-1, 2:] == areas]
    sides = [_WHITE_SIDES[code, i] for i in range(4)]
    wrong = np.zeros(sol.shape, bool)
    for s, w in zip(same, sides):
        wrong |= s != w
    slanted = np.bincount(comp, wrong[inside], minlength=n) == 0
    return valid & numbers & exists & ~_any_per_component(areas, ~(upright | slanted))


CHECKERS = {"sudoku": _sudoku, "lightup": _lightup, "nurikabe": _nurikabe, "heyawake": _heyawake,
            "tapa": _tapa, "shakashaka": _shakashaka}


def check(kind: str, clues, solutions, rooms=None) -> np.ndarray:
    """(B,) bool: whether each solution (B, H, W) solves its clues (B, H, W, or one (H, W) for all) under
    the kind's rules. rooms: heyawake's room ids, same shapes as clues."""
    if kind not in CHECKERS:
        raise PtrmError(f"unknown PPBench kind {kind!r} (known: {', '.join(KINDS)})")
    sol = np.asarray(solutions).astype(np.int64)
    if sol.ndim == 2:
        sol = sol[None]
    if sol.ndim != 3:
        raise PtrmError(f"solutions must be (B, H, W), got shape {sol.shape}")
    clues = np.broadcast_to(np.asarray(clues).astype(np.int64), sol.shape)
    if kind == "heyawake":
        if rooms is None:
            raise PtrmError("heyawake boards need their rooms")
        rooms = np.broadcast_to(np.asarray(rooms).astype(np.int64), sol.shape)
    if len(sol) == 0:
        return np.zeros(0, bool)
    return CHECKERS[kind](clues, sol, rooms)


def check_boards(boards) -> np.ndarray:
    """(N,) bool for a list of Boards (any kinds and sizes): each board's solution against its rules."""
    ok = np.zeros(len(boards), bool)
    groups = {}
    for i, b in enumerate(boards):
        groups.setdefault((b.kind, b.shape), []).append(i)
    for (kind, _), idx in groups.items():
        bs = [boards[i] for i in idx]
        rooms = np.stack([b.rooms for b in bs]) if kind == "heyawake" else None
        ok[idx] = check(kind, np.stack([b.clues for b in bs]), np.stack([b.solution for b in bs]), rooms)
    return ok
