"""ARC-AGI: grids, their tokens, the augmentations (and their inverses), and task files.

A grid is a list of rows of colours 0..9, at most 30x30. Models see the official TRM tokens (the official
`build_arc_dataset.py` conventions): PAD 0, EOS 1, colour c -> c + 2 (vocab 12) on a 30x30 canvas, seq_len
900, row-major. The grid sits at the canvas's top-left (training examples may be shifted by an offset); EOS
marks the row just below it (under the grid's columns) and the column just right of it (beside its rows),
where those fit on the canvas; everything else is PAD, which labels ignore.

Augmentations (the official builder's): one of the 8 dihedral transforms (`DIHEDRAL`) after a colour
permutation that keeps colour 0 (the background) and shuffles 1..9. An augmented puzzle is named
`<task>|||t<trans>|||<perm>`, perm the 10 digits of the colour map (perm[c] = new colour of c); the name is
its identity in identifiers.json, and it alone tells how to invert a prediction back to the task's frame.

Reading a prediction back (the official evaluator's rule, `crop`): the largest rectangle at the top-left
holding colour tokens only, so a prediction is a grid exactly when it is bounded like a label.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError

SIDE = 30
SEQ_LEN = SIDE * SIDE
PAD, EOS = 0, 1
COLOURS = 10
VOCAB_SIZE = COLOURS + 2
SEP = "|||"  # between the task name, the transform and the colour map in an augmented puzzle's name

# np.rot90 / flips / transposes by id, as the official builder numbers them; INVERSE[t] undoes t.
DIHEDRAL = (lambda g: g, lambda g: np.rot90(g, 1), lambda g: np.rot90(g, 2), lambda g: np.rot90(g, 3),
            np.fliplr, np.flipud, lambda g: g.T, lambda g: np.fliplr(np.rot90(g, 1)))
INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
IDENTITY = np.arange(COLOURS, dtype=np.uint8)


# ----------------------------------------------------------------------------- grids and tokens

def to_grid(rows, where: str) -> np.ndarray:
    """A JSON grid (list of equal-length lists of 0..9, at most 30x30) -> uint8 array, else a PtrmError
    naming `where` (file and example)."""
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise PtrmError(f"{where}: a grid must be a non-empty list of rows, got {type(rows).__name__}")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise PtrmError(f"{where}: ragged grid (row widths {sorted(widths)})")
    if len(rows) > SIDE or max(widths) > SIDE or 0 in widths:
        raise PtrmError(f"{where}: grid is {len(rows)}x{max(widths)}; ARC grids are 1x1 to {SIDE}x{SIDE}")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < COLOURS:
                raise PtrmError(f"{where}: cell ({r}, {c}) is {v!r}; colours are integers 0..9")
    return np.array(rows, dtype=np.uint8)


def encode(grid: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """A grid -> (900,) uint8 tokens: colours + 2 at `offset` (row, col), the EOS row and column, PAD."""
    nr, nc = grid.shape
    r0, c0 = offset
    canvas = np.zeros((SIDE, SIDE), np.uint8)
    canvas[r0:r0 + nr, c0:c0 + nc] = grid + 2
    if r0 + nr < SIDE:
        canvas[r0 + nr, c0:c0 + nc] = EOS
    if c0 + nc < SIDE:
        canvas[r0:r0 + nr, c0 + nc] = EOS
    return canvas.reshape(SEQ_LEN)


def crop(tokens: np.ndarray) -> np.ndarray:
    """(900,) tokens -> the grid they spell: the largest top-left rectangle of colour tokens (the first
    such row count on ties), minus 2. A (0, 0) grid when the top-left cell is not a colour."""
    colour = np.asarray(tokens).reshape(SIDE, SIDE)
    colour = (colour >= 2) & (colour < VOCAB_SIZE)
    run = np.where(colour.all(1), SIDE, np.argmin(colour, axis=1))  # leading colour cells of each row
    width = np.minimum.accumulate(run)
    area = width * np.arange(1, SIDE + 1)
    rows = int(np.argmax(area)) + 1 if area.max() > 0 else 0
    cols = int(width[rows - 1]) if rows else 0
    return (np.asarray(tokens).reshape(SIDE, SIDE)[:rows, :cols] - 2).astype(np.uint8)


def grid_key(grid: np.ndarray) -> bytes:
    """Equal grids (shape and colours), equal key."""
    return bytes(grid.shape) + np.ascontiguousarray(grid, np.uint8).tobytes()


def grid_hash(grid: np.ndarray) -> int:
    """A stable 63-bit hash of a grid (shape and colours), for votes."""
    return int.from_bytes(hashlib.blake2b(grid_key(grid), digest_size=8).digest(), "little") >> 1


# ----------------------------------------------------------------------------- augmentations

def augment(grid: np.ndarray, trans: int, perm: np.ndarray) -> np.ndarray:
    """Recolour by `perm`, then apply dihedral transform `trans`."""
    return np.ascontiguousarray(DIHEDRAL[trans](perm[grid]))


def invert(grid: np.ndarray, trans: int, perm: np.ndarray) -> np.ndarray:
    """Undo `augment(., trans, perm)`."""
    return np.ascontiguousarray(np.argsort(perm).astype(np.uint8)[DIHEDRAL[INVERSE[trans]](grid)])


def aug_name(task: str, trans: int, perm: np.ndarray) -> str:
    return f"{task}{SEP}t{trans}{SEP}{''.join(str(int(c)) for c in perm)}"


def parse_name(name: str) -> tuple[str, int, np.ndarray]:
    """An identifier's name -> (task, trans, perm); a name without augmentation is the identity."""
    if SEP not in name:
        return name, 0, IDENTITY
    parts = name.split(SEP)
    task, t, p = SEP.join(parts[:-2]), parts[-2], parts[-1]
    if not (len(t) == 2 and t[0] == "t" and t[1] in "01234567" and len(p) == COLOURS
            and sorted(p) == list("0123456789") and p[0] == "0"):
        raise PtrmError(f"puzzle name {name!r} is not <task>{SEP}t<0..7>{SEP}<a colour permutation keeping 0>")
    return task, int(t[1]), np.array([int(c) for c in p], np.uint8)


@dataclass
class Task:
    """One ARC task: demonstration pairs (`train`) and test pairs (outputs None when unknown)."""
    name: str
    train: list  # [(input grid, output grid)]
    test: list   # [(input grid, output grid | None)]

    def pairs(self):
        """Every pair, a test output unknown standing as [[0]] (as the official builder fills it)."""
        return self.train + [(i, np.zeros((1, 1), np.uint8) if o is None else o) for i, o in self.test]


def augmentations(task: Task, num_aug: int, rng: np.random.RandomState) -> list[tuple[int, np.ndarray]]:
    """Up to `num_aug` distinct augmentations (trans, perm) of `task`, the official builder's way: draw a
    transform and a permutation of colours 1..9, keep it if the augmented task (all its pairs, as a
    multiset) differs from the original and every kept one; at most 5 * num_aug draws. The draws use the
    legacy RandomState in the official order, so the same seed picks the same augmentations."""
    def content(trans, perm):
        return tuple(sorted(grid_key(augment(i, trans, perm)) + b"|" + grid_key(augment(o, trans, perm))
                            for i, o in task.pairs()))
    seen = {content(0, IDENTITY)}
    kept = []
    for _ in range(5 * num_aug):
        if len(kept) >= num_aug:
            break
        trans = rng.randint(0, 8)
        perm = np.concatenate([[0], rng.permutation(np.arange(1, COLOURS, dtype=np.uint8))]).astype(np.uint8)
        key = content(trans, perm)
        if key not in seen:
            seen.add(key)
            kept.append((trans, perm))
    return kept


# ----------------------------------------------------------------------------- task files

def _task(name: str, obj, where: str, solutions=None) -> Task:
    if not isinstance(obj, dict) or not isinstance(obj.get("train"), list) or not isinstance(obj.get("test"), list):
        raise PtrmError(f"{where}: task {name!r} needs 'train' and 'test' lists")
    def pair(ex, part, i, output=None):
        if not isinstance(ex, dict) or "input" not in ex:
            raise PtrmError(f"{where}: task {name!r} {part}[{i}] has no 'input'")
        out = ex.get("output", output)
        grid_out = None if out is None else to_grid(out, f"{where}: task {name!r} {part}[{i}] output")
        return to_grid(ex["input"], f"{where}: task {name!r} {part}[{i}] input"), grid_out
    train = [pair(ex, "train", i) for i, ex in enumerate(obj["train"])]
    if any(o is None for _, o in train):
        raise PtrmError(f"{where}: task {name!r} has a train pair without 'output'")
    sols = solutions or [None] * len(obj["test"])
    if len(sols) != len(obj["test"]):
        raise PtrmError(f"{where}: task {name!r} has {len(obj['test'])} test inputs but {len(sols)} solutions")
    return Task(name, train, [pair(ex, "test", i, s) for i, (ex, s) in enumerate(zip(obj["test"], sols))])


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except OSError as e:
        raise PtrmError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise PtrmError(f"{path}: not JSON ({str(e).splitlines()[0][:120]})") from None


def read_tasks(path) -> list[Task]:
    """Tasks from a Kaggle-style `*_challenges.json` (with `*_solutions.json` beside it, if there), a single
    task file (`{"train": [...], "test": [...]}`, named by its stem), or a folder of single task files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise PtrmError(f"{path}: no *.json task files")
        return [t for f in files for t in read_tasks(f)]
    obj = _read_json(path)
    if isinstance(obj, dict) and "train" in obj and "test" in obj and isinstance(obj["train"], list):
        return [_task(path.stem, obj, str(path))]
    if not isinstance(obj, dict) or not obj:
        raise PtrmError(f"{path}: neither one ARC task nor a {{name: task}} collection")
    solutions = {}
    sol_file = path.with_name(path.name.replace("_challenges.json", "_solutions.json"))
    if sol_file != path and sol_file.is_file():
        solutions = _read_json(sol_file)
        if not isinstance(solutions, dict):
            raise PtrmError(f"{sol_file}: expected {{name: [output grids]}}")
    return [_task(name, task, str(path), solutions.get(name)) for name, task in obj.items()]
