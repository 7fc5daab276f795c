"""Sudoku sets: the Sudoku-Extreme CSV reader, generated sets, one puzzle from text, a set's clue statistics."""
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet, read_csv_columns
from ptrm.tasks import sudoku


def read_sudoku_csv(path) -> PuzzleSet:
    """A Sudoku-Extreme CSV (header `source,question,answer,rating`; 81 cells, '.' or '0' for blank)."""
    path = Path(path)
    questions, answers, lines = read_csv_columns(path)
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


def sudoku_stats(pset: PuzzleSet) -> dict:
    """Clue counts and ratings (guesses needed, see sudoku.rate) of a Sudoku set, for reports."""
    givens = sudoku.decode(pset.inputs)
    clues = (givens > 0).sum(axis=1)
    guesses = np.array([sudoku.rate(g) for g in givens])
    return dict(puzzles=len(pset), clues_min=int(clues.min()), clues_mean=float(clues.mean()),
                clues_max=int(clues.max()), guesses_mean=float(guesses.mean()),
                guesses_median=float(np.median(guesses)), needs_guess=float((guesses > 0).mean()))
