"""The Sudoku specialist reads PPBench's sudoku boards: the 10x10 PPBench frame becomes an 81-cell Sudoku."""
import numpy as np
import pytest

from ptrm import data, tasks
from ptrm.errors import PtrmError
from ptrm.tasks import sudoku
from ptrm.tasks.ppbench.sudoku_view import as_sudoku, reads_sudoku

GOLDEN = "results/data/ppbench/golden"


def test_golden_sudokus_read_as_sudoku_task_puzzles_whose_solutions_pass_the_sudoku_rules():
    pset = data.load_puzzles(f"{GOLDEN}/sudoku.csv")
    view = as_sudoku(pset)
    assert (view.task, view.vocab_size, view.seq_len, len(view)) == ("sudoku", 11, 81, len(pset))
    givens = sudoku.decode(view.inputs)
    assert ((givens >= 0) & (givens <= 9)).all() and (givens > 0).sum(1).min() >= 17
    assert tasks.get("sudoku").verify(view.inputs, view.labels).all()
    wrong = view.labels.copy()
    wrong[:, [0, 1]] = wrong[:, [1, 0]]  # two cells of a row swapped: a row keeps its digits, a column does not
    assert not tasks.get("sudoku").verify(view.inputs, wrong).any()


def test_the_sudoku_checkpoint_gets_the_view_and_another_type_is_refused():
    assert reads_sudoku("results/checkpoints/sudoku.pt") and not reads_sudoku("results/checkpoints/ppbench.pt")
    pset = data.load_puzzles(f"{GOLDEN}/sudoku.csv")
    assert tasks.get("ppbench").align(pset, "results/checkpoints/sudoku.pt", 128).task == "sudoku"
    assert tasks.get("ppbench").align(pset, "results/checkpoints/ppbench.pt", 128) is pset
    with pytest.raises(PtrmError, match="sudoku rows only; this set has lightup rows"):
        as_sudoku(data.load_puzzles(f"{GOLDEN}/lightup.csv"))
