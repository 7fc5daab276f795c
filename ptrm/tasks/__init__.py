"""Puzzle families. `base` holds the Task interface and the registry; each built-in family is a package here
(sudoku, maze, arc, ppbench: its grids and tokens, readers and builders, rules, `task.Task` subclass and `ptrm data`
command), registered below. A family defined elsewhere registers itself the same way: `register(MyTask())`."""
from ptrm.puzzles import IGNORE_LABEL  # noqa: F401  (the tasks' shared label constant, read as ptrm.tasks.IGNORE_LABEL)
from ptrm.tasks.base import REGISTRY, Task, TaskOption, get, of_shape, of_vocab, register, with_csv  # noqa: F401
from ptrm.tasks.arc.task import Arc
from ptrm.tasks.maze.task import Maze
from ptrm.tasks.ppbench.task import PPBench
from ptrm.tasks.sudoku.task import Sudoku

for _task in (Sudoku(), Maze(), Arc(), PPBench()):
    register(_task)
