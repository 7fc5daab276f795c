"""Puzzle tasks (encode, decode, verify, generate) and the constants every layer shares about them."""
from ptrm.tasks import arc, maze, sudoku

IGNORE_LABEL = -100  # labels with this value carry no loss and no accuracy (the official batches' value)

# (vocab_size, seq_len) -> task: how an official dataset or checkpoint that names no task is recognised.
TASK_OF = {(sudoku.VOCAB_SIZE, sudoku.SEQ_LEN): "sudoku", (maze.VOCAB_SIZE, maze.SEQ_LEN): "maze",
           (arc.VOCAB_SIZE, arc.SEQ_LEN): "arc"}
SEQ_LEN_OF = {task: seq_len for (_, seq_len), task in TASK_OF.items()}
TASK_OF_VOCAB = {vocab: task for (vocab, _), task in TASK_OF.items()}
