"""Sudoku as a ptrm task: 81 cells, tokens PAD 0, blank 1, digit d -> d + 1; the paper's run H3/L6/N_sup 16."""
import numpy as np

from ptrm.tasks import sudoku
from ptrm.tasks.base import Task
from ptrm.tasks.sudoku import command, sets


class Sudoku(Task):
    name = "sudoku"
    data_command = command.build
    vocab_size, seq_len = sudoku.VOCAB_SIZE, sudoku.SEQ_LEN
    paper_cycles = dict(H_cycles=3, L_cycles=6, halt_max_steps=16)
    augment = staticmethod(sudoku.augment)

    def read_csv(self, path):
        return sets.read_sudoku_csv(path)

    def verify(self, inputs, answers):
        """Every row, column and box holds 1..9 once and every given is kept."""
        return sudoku.valid_solutions(sudoku.decode(np.asarray(answers)), sudoku.decode(np.asarray(inputs)))

    def from_text(self, text):
        return sets.sudoku_from_text(text)

    def show(self, answer_tokens):
        return sudoku.pretty(sudoku.decode(answer_tokens))
