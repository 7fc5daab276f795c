"""Puzzle tasks (encode, decode, verify, generate) and the constants every layer shares about them."""
import numpy as np

IGNORE_LABEL = -100  # labels with this value carry no loss and no accuracy (the official batches' value)

from ptrm.tasks import arc, maze, sudoku  # noqa: E402  (after IGNORE_LABEL: the tasks read it)
from ptrm.tasks.ppbench import tokens as ppbench_tokens  # noqa: E402

# (vocab_size, seq_len) -> task: how an official dataset or checkpoint that names no task is recognised.
TASK_OF = {(sudoku.VOCAB_SIZE, sudoku.SEQ_LEN): "sudoku", (maze.VOCAB_SIZE, maze.SEQ_LEN): "maze",
           (arc.VOCAB_SIZE, arc.SEQ_LEN): "arc", (ppbench_tokens.VOCAB_SIZE, ppbench_tokens.SEQ_LEN): "ppbench"}
SEQ_LEN_OF = {task: seq_len for (_, seq_len), task in TASK_OF.items()}
TASK_OF_VOCAB = {vocab: task for (vocab, _), task in TASK_OF.items()}


def verify(task: str, inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """(N,) bool: does each answer (token row) satisfy its puzzle's rules? A verifier with no false positives
    on puzzles with one solution: sudoku's units and givens, a maze route from S to G over open cells, a
    PPBench kind's checker. Tasks without rules to check (ARC) verify nothing (all False)."""
    inputs, answers = np.asarray(inputs), np.asarray(answers)
    if task == "sudoku":
        return sudoku.valid_solutions(sudoku.decode(answers), sudoku.decode(inputs))
    if task == "maze":
        return maze.valid_paths(answers, inputs)
    if task == "ppbench":
        return ppbench_tokens.verify(inputs, answers)
    return np.zeros(len(inputs), bool)
