"""PPBench's sudoku boards as the Sudoku task's puzzles, so a Sudoku checkpoint (81 cells, vocabulary 11) is the
specialist for that type: `ptrm search --ckpt results/checkpoints/sudoku.pt --data .../sudoku.csv` reads the
PPBench CSV, and PPBench.align hands the checkpoint this view (answers are then checked by the Sudoku rules,
which are PPBench's sudoku rules)."""
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet
from ptrm.tasks import sudoku
from ptrm.tasks.ppbench import tokens
from ptrm.tasks.ppbench.board import UNDECIDED

SIZE = 9


def reads_sudoku(ckpt_path) -> bool:
    """Whether the native checkpoint at `ckpt_path` is a Sudoku-task model (other formats: no)."""
    from ptrm.checkpoint import read_file  # the checkpoint package imports the task registry
    path = Path(ckpt_path)
    if not path.is_file():
        return False
    obj = read_file(path)
    return isinstance(obj, dict) and obj.get("task") == "sudoku"


def as_sudoku(pset: PuzzleSet) -> PuzzleSet:
    """The sudoku rows of a PPBench set in the Sudoku task's tokens (blank 1, digit d -> d + 1), identifier 0.
    A cell the input shows as decided (a trajectory sample) becomes a given digit; rows of other types are an
    error, since a Sudoku model cannot read them."""
    kinds = np.asarray(pset.puzzle_identifiers)
    if (kinds != tokens.KIND_ID["sudoku"]).any():
        other = tokens.KINDS[int(kinds[kinds != tokens.KIND_ID["sudoku"]][0])]
        raise PtrmError(f"{pset.source}: a Sudoku checkpoint reads sudoku rows only; this set has {other} rows")
    clues, _ = tokens.clue_grids(pset.inputs, SIZE, SIZE)
    given = tokens.IN_GIVEN[np.asarray(pset.inputs).reshape(-1, tokens.FRAME, tokens.FRAME)[:, :SIZE, :SIZE]]
    digits = np.where(clues > 0, clues, np.where(given != UNDECIDED, given, 0)).reshape(len(pset), -1)
    labels = np.where(pset.labels == IGNORE_LABEL, tokens.PAD, pset.labels)
    solution = tokens.solution_codes(labels, "sudoku", SIZE, SIZE).reshape(len(pset), -1)
    return PuzzleSet(sudoku.encode(digits), sudoku.encode(solution), np.zeros(len(pset), np.int32), "sudoku",
                     sudoku.VOCAB_SIZE, sudoku.SEQ_LEN, f"{pset.source} (as 81-cell sudoku)", None, pset.source_index)
