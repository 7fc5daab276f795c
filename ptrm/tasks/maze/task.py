"""Maze as a ptrm task: 30x30 cells of `# SGo`; a route is right when exact, valid when it joins S to G over
open cells (reported beside exact accuracy: a valid but different route is not the label)."""
import numpy as np

from ptrm.tasks import maze
from ptrm.tasks.base import Task
from ptrm.tasks.maze import command, sets


class Maze(Task):
    name = "maze"
    data_command = command.build
    vocab_size, seq_len = maze.VOCAB_SIZE, maze.SEQ_LEN
    paper_cycles = dict(H_cycles=3, L_cycles=4, halt_max_steps=16)

    def read_csv(self, path):
        return sets.read_maze_csv(path)

    def verify(self, inputs, answers):
        return maze.valid_paths(np.asarray(answers), np.asarray(inputs))

    def eval_metrics(self, records, pset):
        return {"valid_path_rate": float(records["verified"].to_numpy().mean())}  # `verify`: a valid route

    def eval_lines(self, metrics):
        return [f"valid S->G paths {100 * metrics['valid_path_rate']:.2f}%"]

    def show(self, answer_tokens):
        return maze.pretty(answer_tokens)
