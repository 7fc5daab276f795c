"""The bridge to pzpr.js, the engine that defines every PPBench type's rules (puzz.link's own).

pzpr.js runs under Node (`node` on PATH): `pzpr_bridge.js` beside this file takes a batch of jobs on stdin and
answers each with the puzzle's state and pzpr.js's verdict, so a batch costs one Node start-up (~0.3 s).
A state is pzpr.js's view of a board, per cell in row-major order (`qnum` clue numbers with -1 none and -2 '?',
`qnums` tapa clue lists, `room` room indices, `qans` shading/bulbs/triangles, `anum` sudoku digits);
`to_state` / `from_state` turn it into our `Board` and back, and `to_moves` writes a board's solution as the
pzpr.js moves PPBench scores (mouse clicks in pzpr's half-cell coordinates: cell (r, c) is at x 2c+1, y 2r+1).
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.tasks.ppbench.board import BLACK, TAPA_CLUES, TAPA_INDEX, UNKNOWN, WHITE, Board, canonical_rooms

BRIDGE = Path(__file__).with_name("pzpr_bridge.js")
# A shakashaka triangle (our code 1-4: the shaded corner bottom-left, bottom-right, top-right, top-left) is
# pzpr's qans 2-5, and a click in that corner's quarter of the cell draws it.
_CORNER = {1: (-0.5, 0.5), 2: (0.5, 0.5), 3: (0.5, -0.5), 4: (-0.5, -0.5)}


def node() -> str | None:
    """The Node executable, or None where there is none."""
    return shutil.which("node")


def run(jobs: list[dict], timeout: float = 600) -> list[dict]:
    """Run jobs (see pzpr_bridge.js) through one Node process; one result per job, in order."""
    exe = node()
    if exe is None:
        raise PtrmError("pzpr.js needs Node.js: `node` is not on PATH")
    proc = subprocess.run([exe, str(BRIDGE)], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise PtrmError(f"{BRIDGE.name} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
    return json.loads(proc.stdout)


# ----------------------------------------------------------------------------- Board <-> pzpr.js state

def to_state(board: Board) -> dict:
    """A board (with its solution, or none: an empty answer) as pzpr.js's state."""
    kind, clues = board.kind, board.clues.astype(int)
    H, W = clues.shape
    sol = np.zeros((H, W), int) if board.solution is None else board.solution.astype(int)
    qnum = np.full((H, W), -1)
    qans = np.zeros((H, W), int)
    anum = np.full((H, W), -1)
    state = {"pid": kind, "rows": H, "cols": W}
    if kind == "sudoku":
        qnum = np.where(clues > 0, clues, -1)
        anum = np.where(clues > 0, -1, sol)
    elif kind in ("lightup", "shakashaka"):
        qnum = np.where(clues == WHITE, -1, np.where(clues == BLACK, -2, clues))
        qans = sol if kind == "lightup" else np.where(sol > 0, sol + 1, 0)
    elif kind == "nurikabe":
        qnum = np.where(clues == 0, -1, np.where(clues == UNKNOWN, -2, clues))
        qans = sol
    elif kind == "heyawake":
        qnum = clues
        qans = sol
        state["room"] = board.rooms.astype(int).ravel().tolist()
    elif kind == "tapa":
        qans = sol
        state["qnums"] = [list(TAPA_CLUES[c]) if c >= 0 else [] for c in clues.ravel()]
    else:
        raise PtrmError(f"unknown PPBench kind {kind!r}")
    state.update(qnum=qnum.ravel().tolist(), qans=qans.ravel().tolist(), anum=anum.ravel().tolist())
    return state


def from_state(state: dict) -> Board:
    """pzpr.js's state as a board (clues, rooms, and its answer as the solution).

    Raises PtrmError naming what our codes cannot express (a tapa clue with a '?', a heyawake '?' room).
    """
    kind, H, W = state["pid"], state["rows"], state["cols"]
    grid = lambda key: np.array(state[key], dtype=int).reshape(H, W)
    qnum, qans = grid("qnum"), grid("qans")
    rooms = None
    if kind == "sudoku":
        clues = np.maximum(qnum, 0)
        solution = np.where(qnum > 0, qnum, np.maximum(grid("anum"), 0))
    elif kind in ("lightup", "shakashaka"):
        clues = np.where(qnum == -1, WHITE, np.where(qnum == -2, BLACK, qnum))
        solution = qans if kind == "lightup" else np.where(qans >= 2, qans - 1, 0)
    elif kind == "nurikabe":
        clues = np.where(qnum == -1, 0, np.where(qnum == -2, UNKNOWN, qnum))
        solution = qans
    elif kind == "heyawake":
        if (qnum == -2).any():
            raise PtrmError("a heyawake room with a '?' clue")
        clues, solution = qnum, qans
        rooms = canonical_rooms(grid("room"))
    elif kind == "tapa":
        lists = [tuple(sorted(q, reverse=True)) for q in state["qnums"]]
        if any(-2 in q for q in lists):
            raise PtrmError("a tapa clue with a '?'")
        if any(q and q not in TAPA_INDEX for q in lists):
            raise PtrmError("a tapa clue no ring of 8 cells can show")
        clues = np.array([TAPA_INDEX[q] if q else -1 for q in lists]).reshape(H, W)
        solution = qans
    else:
        raise PtrmError(f"unknown PPBench kind {kind!r}")
    return Board(kind, clues.astype(np.int16), solution.astype(np.int8),
                 None if rooms is None else rooms.astype(np.int16))


# ----------------------------------------------------------------------------- checks and moves

def check(boards: list[Board], timeout: float = 600) -> tuple[np.ndarray, list[str]]:
    """pzpr.js's verdict on each board's solution: (complete (N,) bool, the failing rule's code or "")."""
    results = run([{"state": to_state(b)} for b in boards], timeout)
    for board, r in zip(boards, results):
        if "error" in r:
            raise PtrmError(f"pzpr.js cannot build a {board.kind} board: {r['error']}")
    return np.array([r["complete"] for r in results], bool), [r["code"] for r in results]


def to_moves(board: Board) -> list[str]:
    """The board's solution as pzpr.js play-mode moves (what PPBench scores), clue cells untouched."""
    moves = []
    for (r, c), code in np.ndenumerate(board.solution):
        x, y = 2 * c + 1, 2 * r + 1
        if board.kind == "sudoku":
            if board.clues[r, c] == 0:
                moves.append(f"mouse,left,{x},{y};key,{code}")
        elif board.kind == "shakashaka":
            if code > 0:
                dx, dy = _CORNER[int(code)]
                moves.append(f"mouse,left,{x + dx},{y + dy}")
        elif code == 1:  # a bulb (lightup) or a shaded cell
            moves.append(f"mouse,left,{x},{y}")
    return moves
