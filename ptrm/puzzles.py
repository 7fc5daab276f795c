"""Puzzle sets: the one in-memory form (PuzzleSet) and the file forms every task shares.

Files: CSV files with `question` and `answer` columns (each task reads its cells, see ptrm.tasks), and the
official TRM built layout (`<root>/{train,test}/*.npy` + dataset.json, one identifiers.json beside them). Token
ids follow the official builders, so sets from any source are interchangeable and official checkpoints read our
sets as their own. The official layout, as the official Sudoku builder writes it (checked against
tests/fixtures): labels hold the full solution and use ignore_label_id (0 = PAD) for cells without a target;
dtypes vary (uint8 for an unaugmented split, int64 for an augmented one), so we cast on reading.
"""
import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text

IGNORE_LABEL = -100  # labels with this value carry no loss and no accuracy (the official batches' value)
ARRAYS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


@dataclass
class PuzzleSet:
    inputs: np.ndarray  # (N, S) int32 token ids
    labels: np.ndarray  # (N, S) int32 token ids; ignored cells = -100
    puzzle_identifiers: np.ndarray  # (N,) int32
    task: str  # the name of a registered task (ptrm.tasks)
    vocab_size: int
    seq_len: int
    source: str  # where it came from (path or generator call), for manifests
    # Per-row facts a task needs beyond the tokens (ARC: which task, test input and augmentation a row is), or None.
    rows: pd.DataFrame | None = None
    # These puzzles' row numbers in `source` once the set is a subset (None: rows 0..N-1), for manifests.
    source_index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, idx) -> "PuzzleSet":
        """The rows `idx` (an index array, mask or slice) as a new set."""
        rows = None if self.rows is None else self.rows.iloc[idx].reset_index(drop=True)
        index = np.arange(len(self)) if self.source_index is None else self.source_index
        return PuzzleSet(self.inputs[idx], self.labels[idx], self.puzzle_identifiers[idx], self.task,
                         self.vocab_size, self.seq_len, self.source, rows, index[idx])

    def head(self, n: int) -> "PuzzleSet":
        return self.subset(slice(0, n))


def exact_and_cell(preds: np.ndarray, labels: np.ndarray):
    """preds [..., N, S] vs labels [N, S] -> (exact [..., N] bool, cell accuracy [..., N])."""
    mask = labels != IGNORE_LABEL
    hit = (preds == labels) | ~mask
    return hit.all(-1), ((preds == labels) & mask).sum(-1) / np.maximum(mask.sum(-1), 1)


# ----------------------------------------------------------------------------- CSV

def read_csv_columns(path) -> tuple[list[str], list[str], list[int]]:
    """The question and answer columns of a `source,question,answer,rating` CSV, with line numbers."""
    path = Path(path)
    try:
        # Undecodable bytes become U+FFFD, which the cell check then reports with its line and cell.
        f = open(path, newline="", encoding="utf-8", errors="replace")
    except OSError as e:
        raise PtrmError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or "question" not in header or "answer" not in header:
                raise PtrmError(f"{path}:1: expected a header with 'question' and 'answer' columns, got {header}")
            for name in ("question", "answer"):
                if header.count(name) > 1:
                    raise PtrmError(f"{path}:1: column {name!r} appears {header.count(name)} times")
            q_col, a_col = header.index("question"), header.index("answer")
            questions, answers, lines = [], [], []
            for row in reader:
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise PtrmError(f"{path}:{reader.line_num}: row has {len(row)} columns, expected {len(header)}")
                questions.append(row[q_col])
                answers.append(row[a_col])
                lines.append(reader.line_num)
        except csv.Error as e:  # a NUL byte, an unclosed quote running past the field size limit
            raise PtrmError(f"{path}:{reader.line_num}: not CSV ({e})") from None
    if not questions:
        raise PtrmError(f"{path}: no puzzles")
    return questions, answers, lines



def csv_header(path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return next(csv.reader(f), [])
    except (OSError, csv.Error):
        return []  # the reader proper reports it


# ----------------------------------------------------------------------------- official layout

@dataclass
class Split:
    """One split of the official layout as read: examples, their puzzles' identifiers, the vocabulary."""
    folder: Path
    inputs: np.ndarray
    labels: np.ndarray
    identifiers: np.ndarray  # per example: its puzzle's identifier
    puzzle_indices: np.ndarray
    vocab_size: int
    seq_len: int


def _split_dir(root_or_split_dir, split: str) -> Path:
    path = Path(root_or_split_dir)
    for candidate in (path, path / split):
        if (candidate / "dataset.json").is_file():
            return candidate
    raise PtrmError(f"{path}: no dataset.json here or in {path / split}")


def read_split(root_or_split_dir, split: str = "test") -> Split:
    """One split of the official built layout, given its root (then `split` picks it) or its folder, checked.

    Rows are examples; each gets the identifier of the puzzle it belongs to. Labels equal to the
    dataset's ignore_label_id become -100. Which task it is, ptrm.data decides (ptrm.tasks.of_shape).
    """
    folder = _split_dir(root_or_split_dir, split)
    meta_file = folder / "dataset.json"
    try:
        meta = json.loads(meta_file.read_bytes())
        vocab_size, seq_len, ignore = meta["vocab_size"], meta["seq_len"], meta["ignore_label_id"]
    except (ValueError, KeyError, TypeError) as e:  # ValueError: bad JSON or bad UTF-8
        raise PtrmError(f"{meta_file}: not an official dataset.json ({str(e).splitlines()[0][:160]})") from None
    for key, value in (("vocab_size", vocab_size), ("seq_len", seq_len), ("ignore_label_id", ignore)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key != "ignore_label_id" else 0):
            raise PtrmError(f"{meta_file}: {key} must be a {'positive' if key != 'ignore_label_id' else 'non-negative'} "
                            f"integer, got {value!r}")
    arrays = {name: _load_ints(folder / f"all__{name}.npy", 2 if name in ("inputs", "labels") else 1)
              for name in ARRAYS}
    inputs, labels, puzzle_indices = arrays["inputs"], arrays["labels"], arrays["puzzle_indices"]
    if inputs.shape[1] != seq_len or labels.shape != inputs.shape:
        raise PtrmError(f"{folder}: inputs {inputs.shape} and labels {labels.shape} do not match seq_len {seq_len}")
    if len(inputs) == 0:
        raise PtrmError(f"{folder}: no puzzles")
    for name, array, allowed in (("inputs", inputs, None), ("labels", labels, ignore)):  # before a cast can wrap
        bad = (array < 0) | (array >= vocab_size)
        if allowed is not None:
            bad &= array != allowed
        if bad.any():
            row, cell = np.argwhere(bad)[0]
            raise PtrmError(f"{folder / f'all__{name}.npy'}: row {row} cell {cell} holds token {array[row, cell]}, "
                            f"outside the vocab of {vocab_size}")
    if (len(puzzle_indices) != len(arrays["puzzle_identifiers"]) + 1 or puzzle_indices[0] != 0
            or puzzle_indices[-1] != len(inputs) or (np.diff(puzzle_indices) < 0).any()):
        raise PtrmError(f"{folder}: puzzle_indices do not cover the {len(inputs)} examples")
    inputs, labels = inputs.astype(np.int32), labels.astype(np.int32)
    labels[labels == ignore] = IGNORE_LABEL
    identifiers = np.repeat(arrays["puzzle_identifiers"], np.diff(puzzle_indices)).astype(np.int32)
    return Split(folder, inputs, labels, identifiers, puzzle_indices, vocab_size, seq_len)


def _load_ints(file: Path, ndim: int) -> np.ndarray:
    """One .npy array of integers with `ndim` dimensions (at least one entry), or an error naming the file."""
    if not file.is_file():
        raise PtrmError(f"{file}: missing")
    try:
        array = np.load(file)  # allow_pickle stays off: a .npy of objects is refused, never unpickled
    except (ValueError, OSError, EOFError) as e:  # truncated, not .npy, object arrays
        raise PtrmError(f"{file}: not a readable .npy array ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
        raise PtrmError(f"{file}: dtype {getattr(array, 'dtype', type(array).__name__)}, expected integers")
    if array.ndim != ndim or array.size == 0 and ndim == 1:
        raise PtrmError(f"{file}: shape {array.shape}, expected {ndim} dimension(s)")
    return array


def write_official(pset: PuzzleSet, root, split: str, overwrite: bool = False) -> Path:
    """Write `pset` as `<root>/<split>/` in the official layout (one puzzle per group, one example per
    puzzle, no augmentation) and `<root>/identifiers.json`; returns the split folder.

    The split is written into a temporary folder beside it and renamed into place, so a reader never
    sees half a dataset. An existing split is only replaced with `overwrite`.
    """
    root = Path(root)
    target = root / split
    if target.exists() and not overwrite:
        raise PtrmError(f"{target}: already exists (overwrite it explicitly)")
    root.mkdir(parents=True, exist_ok=True)
    n = len(pset)
    num_identifiers = int(pset.puzzle_identifiers.max(initial=0)) + 1
    meta = dict(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=pset.vocab_size,
                seq_len=pset.seq_len, num_puzzle_identifiers=num_identifiers, total_groups=n,
                mean_puzzle_examples=1.0, total_puzzles=n, sets=["all"])
    arrays = dict(inputs=pset.inputs.astype(np.int32),
                  labels=np.where(pset.labels == IGNORE_LABEL, 0, pset.labels).astype(np.int32),
                  puzzle_identifiers=pset.puzzle_identifiers.astype(np.int32),
                  puzzle_indices=np.arange(n + 1, dtype=np.int32),
                  group_indices=np.arange(n + 1, dtype=np.int32))
    save_split(root, split, arrays, meta)
    names = ["<blank>"] + [str(i) for i in range(1, num_identifiers)]
    atomic_write_text(root / "identifiers.json", json.dumps(names))
    return target


def save_split(root: Path, split: str, arrays: dict, meta: dict) -> Path:
    """Write `<root>/<split>/` (the arrays as all__<name>.npy, dataset.json) into a temporary folder beside
    it and rename it into place, so a reader never sees half a dataset; an existing split is replaced."""
    target = root / split
    tmp = root / f".{split}.{os.getpid()}.tmp"  # mkdir, unlike mkdtemp, keeps the umask's permissions
    shutil.rmtree(tmp, ignore_errors=True)  # left over from a run that crashed
    tmp.mkdir()
    try:
        for name, array in arrays.items():
            np.save(tmp / f"all__{name}.npy", array)
        (tmp / "dataset.json").write_text(json.dumps(meta))
        if target.exists():
            # Keep the old split under a temporary name until the new one is in place.
            old = tmp.with_name(tmp.name + ".old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_identifiers(path: Path) -> list[str]:
    """An `identifiers.json`: the name of every puzzle identifier (ARC: `task|||tN|||perm` per augmentation)."""
    try:
        names = json.loads(Path(path).read_bytes())
    except ValueError as e:
        raise PtrmError(f"{path}: not JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PtrmError(f"{path}: expected a list of names")
    return names
