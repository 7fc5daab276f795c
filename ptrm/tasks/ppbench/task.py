"""PPBench as a ptrm task: six puzzle kinds in one 10x10 frame and one vocabulary; the identifier is the kind, so
the deterministic evaluation reports each kind apart; the kinds' rules verify answers."""
import numpy as np

from ptrm.tasks.base import Task
from ptrm.tasks.ppbench import command, sudoku_view, tokens
from ptrm.tasks.ppbench.board import KINDS
from ptrm.tasks.ppbench.csv_files import PPBENCH_HEADER, read_ppbench_csv


def by_type(values: np.ndarray, kinds: np.ndarray) -> dict:
    """The mean of per-puzzle `values` per PPBench type present, in KINDS order (kinds: the puzzle identifiers)."""
    return {KINDS[k]: float(values[kinds == k].mean()) for k in np.unique(kinds)}


class PPBench(Task):
    name = "ppbench"
    data_command = command.build
    vocab_size, seq_len = tokens.VOCAB_SIZE, tokens.SEQ_LEN
    csv_header = tuple(PPBENCH_HEADER[:2])

    def read_csv(self, path):
        return read_ppbench_csv(path)

    def verify(self, inputs, answers):
        return tokens.verify(inputs, answers)

    def align(self, pset, ckpt_path, puzzle_emb_ndim):
        # The Sudoku specialist: a Sudoku checkpoint reads the sudoku boards as 81-cell Sudokus.
        return sudoku_view.as_sudoku(pset) if sudoku_view.reads_sudoku(ckpt_path) else pset

    def eval_metrics(self, records, pset):
        kinds = pset.puzzle_identifiers[records["puzzle"].to_numpy()]  # one model for six puzzle types: how each fares
        return {"exact_by_type": by_type(records["correct"].to_numpy(), kinds),
                "cell_by_type": by_type(records["cell_acc"].to_numpy(), kinds)}

    def eval_lines(self, metrics):
        return ["per type, exact (cell) accuracy: " + "   ".join(
            f"{kind} {100 * a:.1f}% ({100 * metrics['cell_by_type'][kind]:.1f}%)"
            for kind, a in metrics["exact_by_type"].items())]
