"""Maze sets: the Maze-Hard CSV reader and generated sets."""
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet, read_csv_columns
from ptrm.tasks import maze


def read_maze_csv(path) -> PuzzleSet:
    """A Maze-Hard CSV (header `source,question,answer,rating`; 900 cells of `# SGo`, 30x30 row-major).

    Every question needs one S and one G, and its answer may only mark open cells 'o'.
    """
    path = Path(path)
    questions, answers, lines = read_csv_columns(path)
    grids = {}
    for column, strings in (("question", questions), ("answer", answers)):
        for s, line in zip(strings, lines):
            if len(s) != maze.SEQ_LEN:
                raise PtrmError(f"{path}:{line}: {column} has {len(s)} cells, expected {maze.SEQ_LEN}")
        tokens = maze.BYTE_TO_TOKEN[np.frombuffer("".join(strings).encode("latin-1", "replace"), np.uint8)]
        grids[column] = tokens.reshape(-1, maze.SEQ_LEN)
        bad = grids[column] == maze.PAD
        if bad.any():
            i, cell = np.argwhere(bad)[0]
            raise PtrmError(f"{path}:{lines[i]}: {column} has character {strings[i][cell]!r} at cell {cell}, "
                            f"expected one of {maze.CHARSET!r}")
    q, a = grids["question"], grids["answer"]
    for name, token in (("S", maze.START), ("G", maze.GOAL)):
        count = (q == token).sum(1)
        if (count != 1).any():
            i = int(np.argmax(count != 1))
            raise PtrmError(f"{path}:{lines[i]}: question has {count[i]} '{name}' cells, expected 1")
    changed = maze.changed_cells(a, q)
    if changed.any():
        i, cell = np.argwhere(changed)[0]
        raise PtrmError(f"{path}:{lines[i]}: answer changes the question at cell {cell} "
                        f"({questions[i][cell]!r} -> {answers[i][cell]!r})")
    return PuzzleSet(q, a, np.zeros(len(q), np.int32), "maze", maze.VOCAB_SIZE, maze.SEQ_LEN, str(path))


def generate_maze_set(n: int, seed) -> PuzzleSet:
    """n generated perfect mazes with their unique route as label; see maze.generate."""
    questions, labels = maze.generate(n, seed)
    return PuzzleSet(questions, labels, np.zeros(n, np.int32), "maze", maze.VOCAB_SIZE, maze.SEQ_LEN,
                     f"generated:maze(seed={seed})")
