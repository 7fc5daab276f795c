"""Generated PPBench sets on disk: one board per JSON line (`to_record`), with its index, clue count and rating."""
import json
import time
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.io import atomic_write
from ptrm.tasks.ppbench.board import KINDS, Board
from ptrm.tasks.ppbench.solve import rate


def n_clues(board: Board) -> int:
    """How many clues a puzzle shows (numbers, givens, tapa clues; nurikabe: its islands)."""
    if board.kind in ("lightup", "shakashaka"):
        return int(((board.clues >= 0) & (board.clues <= 4)).sum())
    return int((board.clues > 0).sum() if board.kind in ("sudoku", "nurikabe") else (board.clues >= 0).sum())


def to_record(board: Board, **extra) -> dict:
    """A board as one JSON-ready dict of nested lists (one line of a generated set's JSONL)."""
    record = {"kind": board.kind, "clues": board.clues.tolist(),
              "solution": None if board.solution is None else board.solution.tolist()}
    if board.rooms is not None:
        record["rooms"] = board.rooms.tolist()
    return record | extra


def from_record(record: dict, where: str = "record") -> Board:
    """The board of a `to_record` dict; `where` names it in errors."""
    try:
        kind = record["kind"]
        clues = np.array(record["clues"], np.int16)
        solution = None if record.get("solution") is None else np.array(record["solution"], np.int8)
        rooms = None if record.get("rooms") is None else np.array(record["rooms"], np.int16)
    except (KeyError, TypeError, ValueError) as err:
        raise PtrmError(f"{where}: not a PPBench board record ({err})") from None
    if kind not in KINDS or clues.ndim != 2:
        raise PtrmError(f"{where}: kind {kind!r} with clues of shape {clues.shape} is not a PPBench board")
    return Board(kind, clues, solution, rooms)


def write_set(path, boards, progress=None) -> dict:
    """Stream boards into a JSONL file (atomically: the file appears once complete); each line is
    `to_record` plus its index, clue count and rating. Returns summary numbers: count, seconds, clue and rating
    quantiles (5, 50, 95%). `progress`: called once per board written."""
    clues, ratings = [], []
    start = time.perf_counter()
    with atomic_write(path) as tmp, open(tmp, "w") as f:
        for i, board in enumerate(boards):
            clues.append(n_clues(board))
            ratings.append(rate(board))
            f.write(json.dumps(to_record(board, index=i, clues_shown=clues[-1], rating=ratings[-1])) + "\n")
            if progress:
                progress()
    quantiles = lambda xs: [float(q) for q in np.percentile(xs, [5, 50, 95])] if xs else []
    return {"count": len(clues), "seconds": time.perf_counter() - start,
            "clues": quantiles(clues), "rating": quantiles(ratings),
            "rating_zero": float(np.mean(np.array(ratings) == 0)) if ratings else 0.0}


def read_records(path) -> list[dict]:
    """The lines of a JSONL file written by `write_set`, as dicts (board, index, clues shown, rating)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise PtrmError(f"{path}: cannot read ({err.strerror})") from None
    records = []
    for n, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise PtrmError(f"{path}:{n}: not JSON") from None
    return records


def read_set(path) -> list[Board]:
    """The boards of a JSONL file written by `write_set`."""
    return [from_record(record, f"{path}:{n}") for n, record in enumerate(read_records(path), 1)]
