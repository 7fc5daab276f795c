"""Puzzle datasets: one in-memory form (PuzzleSet) and the files it comes from or goes to.

Sources: Sudoku-Extreme and Maze-Hard style CSV files, PPBench CSV files, the official TRM built layout
(`<root>/{train,test}/*.npy`) and the Sudoku and maze generators; `ptrm.builders` makes the ARC and PPBench
sets out of their sources and writes them through the writers here. Token ids follow the official
builders, so sets from any source are interchangeable and official checkpoints read our sets as their own.

Official layout, as the official Sudoku builder writes it (checked against tests/fixtures):
inputs and labels use the same tokens (blank 1, digit d -> d + 1); labels hold the full solution,
givens included, and never contain ignore_label_id (0 = PAD) for Sudoku. dtypes vary (uint8 for an
unaugmented split, int64 for an augmented one), so we cast on reading.
"""
import csv
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.tasks import IGNORE_LABEL, SEQ_LEN_OF, TASK_OF, arc, maze, sudoku
from ptrm.tasks.ppbench import tokens as ppbench_tokens

ARRAYS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


@dataclass
class PuzzleSet:
    inputs: np.ndarray  # (N, S) int32 token ids
    labels: np.ndarray  # (N, S) int32 token ids; ignored cells = -100
    puzzle_identifiers: np.ndarray  # (N,) int32
    task: str  # "sudoku" | "maze" | "arc" | "ppbench"
    vocab_size: int
    seq_len: int
    source: str  # where it came from (path or generator call), for manifests
    # Per-row facts a task needs beyond the tokens (ARC: which task, test input and augmentation a row is;
    # see `arc_rows`), or None.
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


# ----------------------------------------------------------------------------- CSV

def _read_csv(path) -> tuple[list[str], list[str], list[int]]:
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


def read_sudoku_csv(path) -> PuzzleSet:
    """A Sudoku-Extreme CSV (header `source,question,answer,rating`; 81 cells, '.' or '0' for blank)."""
    path = Path(path)
    questions, answers, lines = _read_csv(path)
    givens = _cells(questions, "question", path, lines, allow_blank=True)
    solutions = _cells(answers, "answer", path, lines, allow_blank=False)
    clash = (givens != 0) & (givens != solutions)
    if clash.any():
        i, cell = np.argwhere(clash)[0]
        raise PtrmError(f"{path}:{lines[i]}: answer changes the given at cell {cell} "
                        f"({givens[i, cell]} -> {solutions[i, cell]})")
    invalid = ~sudoku.valid_solutions(solutions, givens)  # a label that is no solution would score nonsense
    if invalid.any():
        raise PtrmError(f"{path}:{lines[np.argmax(invalid)]}: answer is not a solved Sudoku (a row, column or box "
                        f"repeats a digit)")
    return PuzzleSet(sudoku.encode(givens), sudoku.encode(solutions), np.zeros(len(givens), np.int32),
                     "sudoku", sudoku.VOCAB_SIZE, sudoku.SEQ_LEN, str(path))


# Byte -> digit, 255 for characters that are not a cell.
_CELL_LUT = np.full(256, 255, np.uint8)
_CELL_LUT[ord(".")] = 0
_CELL_LUT[ord("0"): ord("9") + 1] = np.arange(10)


def _cells(strings: list[str], column: str, path: Path, lines: list[int], allow_blank: bool) -> np.ndarray:
    """81-character cell strings -> digits (N, 81) uint8, vectorised, with errors naming the line."""
    for s, line in zip(strings, lines):
        if len(s) != 81:
            raise PtrmError(f"{path}:{line}: {column} has {len(s)} cells, expected 81")
    raw = np.frombuffer("".join(strings).encode("latin-1", "replace"), np.uint8).reshape(-1, 81)
    digits = _CELL_LUT[raw]
    bad = digits == 255
    if not allow_blank:
        bad |= digits == 0
    if bad.any():
        i, cell = np.argwhere(bad)[0]
        what = "blank" if digits[i, cell] == 0 else f"character {strings[i][cell]!r}"
        raise PtrmError(f"{path}:{lines[i]}: {column} has {what} at cell {cell}")
    return digits


def read_maze_csv(path) -> PuzzleSet:
    """A Maze-Hard CSV (header `source,question,answer,rating`; 900 cells of `# SGo`, 30x30 row-major).

    Every question needs one S and one G, and its answer may only mark open cells 'o'.
    """
    path = Path(path)
    questions, answers, lines = _read_csv(path)
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


def read_csv(path, task: str | None = None) -> PuzzleSet:
    """A Sudoku-Extreme, Maze-Hard or PPBench CSV; `task` defaults to the one the header (PPBench: a `kind`
    column) or else the first question's length implies."""
    if task is None and _csv_header(path)[:2] == PPBENCH_HEADER[:2]:
        task = "ppbench"
    if task is None:
        questions, _, _ = _read_csv(path)
        task = {SEQ_LEN_OF[name]: name for name in ("sudoku", "maze")}.get(len(questions[0]))
        if task is None:
            raise PtrmError(f"{path}: a question of {len(questions[0])} cells is neither Sudoku (81) nor maze (900)")
    readers = {"sudoku": read_sudoku_csv, "maze": read_maze_csv, "ppbench": read_ppbench_csv}
    if task not in readers:
        raise PtrmError(f"{path}: no CSV reader for task {task!r} (known: {', '.join(readers)})")
    return readers[task](path)


# ----------------------------------------------------------------------------- PPBench CSV

PPBENCH_HEADER = ["source", "kind", "height", "width", "question", "answer"]


def _csv_header(path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return next(csv.reader(f), [])
    except (OSError, csv.Error):
        return []  # the reader proper reports it


def write_ppbench_csv(path, boards, sources) -> None:
    """PPBench boards as a CSV, one puzzle per row: `source,kind,height,width,question,answer`, question and
    answer the 100 token ids of the 10x10 frame (ptrm.tasks.ppbench.tokens), space-separated, with 0 (PAD)
    outside the board in both."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PPBENCH_HEADER)
    for board, source in zip(boards, sources):
        inputs, labels = ppbench_tokens.encode(board)
        labels = np.where(labels == IGNORE_LABEL, ppbench_tokens.PAD, labels)
        writer.writerow([source, board.kind, *board.shape, " ".join(map(str, inputs)), " ".join(map(str, labels))])
    atomic_write_text(path, out.getvalue())


def read_ppbench_csv(path) -> PuzzleSet:
    """A CSV written by `write_ppbench_csv`; the puzzle identifier is the kind (one embedding per kind)."""
    path = Path(path)
    header = _csv_header(path)
    if header[:len(PPBENCH_HEADER)] != PPBENCH_HEADER:
        raise PtrmError(f"{path}:1: expected the PPBench header {','.join(PPBENCH_HEADER)}, got {header}")
    questions, answers, lines = _read_csv(path)
    vocab, seq_len = ppbench_tokens.VOCAB_SIZE, ppbench_tokens.SEQ_LEN
    grids = []
    for column, strings in (("question", questions), ("answer", answers)):
        rows = []
        for s, line in zip(strings, lines):
            try:
                row = np.array(s.split(), dtype=np.int64)
            except ValueError:
                raise PtrmError(f"{path}:{line}: {column} is not space-separated token ids") from None
            if len(row) != seq_len or row.min() < 0 or row.max() >= vocab:
                raise PtrmError(f"{path}:{line}: {column} must be {seq_len} token ids in 0..{vocab - 1}")
            rows.append(row)
        grids.append(np.stack(rows).astype(np.int32))
    inputs, labels = grids
    first = inputs[:, 0]
    if not ppbench_tokens.IS_INPUT[first].all():
        i = int(np.argmin(ppbench_tokens.IS_INPUT[first]))
        raise PtrmError(f"{path}:{lines[i]}: question does not start with a PPBench cell token")
    labels[inputs == ppbench_tokens.PAD] = IGNORE_LABEL
    kinds = ppbench_tokens.TOKEN_KIND[first].astype(np.int32)
    return PuzzleSet(inputs, labels, kinds, "ppbench", vocab, seq_len, str(path))


# ----------------------------------------------------------------------------- official layout

def _split_dir(root_or_split_dir, split: str) -> Path:
    path = Path(root_or_split_dir)
    for candidate in (path, path / split):
        if (candidate / "dataset.json").is_file():
            return candidate
    raise PtrmError(f"{path}: no dataset.json here or in {path / split}")


def read_official(root_or_split_dir, split: str = "test", task: str | None = None) -> PuzzleSet:
    """One split of the official built layout, given its root (then `split` picks it) or its folder.

    Rows are examples; each gets the identifier of the puzzle it belongs to. Labels equal to the
    dataset's ignore_label_id become -100. `task` defaults to the one implied by vocab and length.
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
    if task is None:
        task = TASK_OF.get((vocab_size, seq_len))
        if task is None:
            raise PtrmError(f"{folder}: unknown task for vocab_size {vocab_size}, seq_len {seq_len}")
    labels[labels == ignore] = IGNORE_LABEL
    identifiers = np.repeat(arrays["puzzle_identifiers"], np.diff(puzzle_indices)).astype(np.int32)
    rows = arc_rows(folder.parent / "identifiers.json", identifiers, puzzle_indices) if task == "arc" else None
    return PuzzleSet(inputs, labels, identifiers, task, vocab_size, seq_len, str(folder), rows)


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


# ----------------------------------------------------------------------------- ARC-AGI

def arc_augmentations(pset: PuzzleSet, n: int) -> PuzzleSet:
    """The rows of the first `n` versions of every ARC test input (the task as given, then its
    augmentations in the order drawn): fewer votes for less compute, identifiers unchanged."""
    if pset.rows is None:
        raise PtrmError(f"{pset.source}: --arc-augs applies to ARC datasets only (this is {pset.task})")
    if n < 1:
        raise PtrmError(f"--arc-augs must be >= 1, got {n}")
    return pset.subset(pset.rows.groupby(["task", "test_index"]).cumcount().to_numpy() < n)


def read_identifiers(path: Path) -> list[str]:
    """An `identifiers.json`: the name of every puzzle identifier (ARC: `task|||tN|||perm` per augmentation)."""
    try:
        names = json.loads(Path(path).read_bytes())
    except ValueError as e:
        raise PtrmError(f"{path}: not JSON ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PtrmError(f"{path}: expected a list of names")
    return names


def arc_rows(identifiers_file: Path, identifiers: np.ndarray, puzzle_indices: np.ndarray) -> pd.DataFrame:
    """What each row of an ARC split is: its puzzle's identifier and name, the task, the test input (its
    index within the puzzle) and the augmentation (trans, perm), from `identifiers.json`."""
    if not identifiers_file.is_file():
        raise PtrmError(f"{identifiers_file}: missing; an ARC dataset needs it to invert its augmentations")
    names = read_identifiers(identifiers_file)
    if identifiers.max(initial=0) >= len(names) or identifiers.min(initial=0) < 0:
        raise PtrmError(f"{identifiers_file}: {len(names)} names, but the data uses identifier {identifiers.max()}")
    parsed = {i: arc.parse_name(names[i]) for i in np.unique(identifiers)}
    sizes = np.diff(puzzle_indices)
    return pd.DataFrame({
        "identifier": identifiers, "name": [names[i] for i in identifiers],
        "task": [parsed[i][0] for i in identifiers],
        "test_index": np.arange(len(identifiers)) - np.repeat(puzzle_indices[:-1], sizes),
        "trans": [parsed[i][1] for i in identifiers],
        "perm": ["".join(map(str, parsed[i][2])) for i in identifiers]})


# ----------------------------------------------------------------------------- any source

def load_puzzles(path, split: str = "test", task: str | None = None) -> PuzzleSet:
    """A `.csv` file (Sudoku-Extreme or Maze-Hard format) or an official dataset folder (its `split`).
    `task` defaults to the one implied by the cell count (CSV) or vocab and length (official layout)."""
    path = Path(path)
    if path.suffix == ".csv":
        return read_csv(path, task)
    if path.is_dir():
        return read_official(path, split, task)
    raise PtrmError(f"{path}: not a .csv file or an official dataset folder")


def generate_sudoku_set(n: int, seed, min_clues: int = 17, max_clues: int | None = None,
                        min_guesses: int = 0, progress: bool = False) -> PuzzleSet:
    """n generated, uniquely solvable puzzles; see sudoku.generate for the difficulty knobs."""
    puzzles, solutions, _ = sudoku.generate(n, seed, min_clues, max_clues, min_guesses, progress)
    source = (f"generated:sudoku(seed={seed}, min_clues={min_clues}, max_clues={max_clues}, "
              f"min_guesses={min_guesses})")
    return PuzzleSet(sudoku.encode(puzzles), sudoku.encode(solutions), np.zeros(n, np.int32), "sudoku",
                     sudoku.VOCAB_SIZE, sudoku.SEQ_LEN, source)


def sudoku_from_text(text: str, source: str = "command line") -> PuzzleSet:
    """One Sudoku from an 81-character string ('.' or 0 for blanks), its answer unknown (labels ignored)."""
    tokens = sudoku.encode(sudoku.parse(text))[None]
    return PuzzleSet(tokens, np.full_like(tokens, IGNORE_LABEL), np.zeros(1, np.int32), "sudoku",
                     sudoku.VOCAB_SIZE, sudoku.SEQ_LEN, source)


def generate_maze_set(n: int, seed) -> PuzzleSet:
    """n generated perfect mazes with their unique route as label; see maze.generate."""
    questions, labels = maze.generate(n, seed)
    return PuzzleSet(questions, labels, np.zeros(n, np.int32), "maze", maze.VOCAB_SIZE, maze.SEQ_LEN,
                     f"generated:maze(seed={seed})")


def sudoku_stats(pset: PuzzleSet) -> dict:
    """Clue counts and ratings (guesses needed, see sudoku.rate) of a Sudoku set, for reports."""
    givens = sudoku.decode(pset.inputs)
    clues = (givens > 0).sum(axis=1)
    guesses = np.array([sudoku.rate(g) for g in givens])
    return dict(puzzles=len(pset), clues_min=int(clues.min()), clues_mean=float(clues.mean()),
                clues_max=int(clues.max()), guesses_mean=float(guesses.mean()),
                guesses_median=float(np.median(guesses)), needs_guess=float((guesses > 0).mean()))
