"""Loading puzzle sets from any source, the task resolved once: a CSV file (the task whose CSV format its header
or question length is) or a split of the official layout (the task its vocabulary and length imply, with the
task's per-row facts). The forms themselves are in ptrm.puzzles; each task's readers in its package."""
from pathlib import Path

from ptrm import tasks
from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet, csv_header, read_csv_columns, read_split


def read_csv(path, task: str | None = None) -> PuzzleSet:
    """A CSV of a task that reads CSV files; `task` defaults to the one whose header it has, else the one whose
    sequence length its first question has."""
    readers = tasks.with_csv()
    if task is None:
        header = csv_header(path)
        task = next((t.name for t in readers if t.csv_header and header[:len(t.csv_header)] == list(t.csv_header)),
                    None)
    if task is None:
        questions, _, _ = read_csv_columns(path)
        task = next((t.name for t in readers if not t.csv_header and t.seq_len == len(questions[0])), None)
        if task is None:
            known = ", ".join(f"{t.name} ({t.seq_len})" for t in readers if not t.csv_header)
            raise PtrmError(f"{path}: a question of {len(questions[0])} cells is of no task's CSV: {known}")
    if task not in {t.name for t in readers}:
        raise PtrmError(f"{path}: no CSV reader for task {task!r} (known: {', '.join(t.name for t in readers)})")
    return tasks.get(task).read_csv(path)


def read_official(root_or_split_dir, split: str = "test", task: str | None = None) -> PuzzleSet:
    """One split of the official built layout (see ptrm.puzzles.read_split); `task` defaults to the one implied by
    vocab and length, and the task adds its per-row facts (see PuzzleSet.rows)."""
    s = read_split(root_or_split_dir, split)
    if task is None:
        task = tasks.of_shape(s.vocab_size, s.seq_len)
        if task is None:
            raise PtrmError(f"{s.folder}: unknown task for vocab_size {s.vocab_size}, seq_len {s.seq_len}")
    rows = tasks.get(task).rows(s.folder, s.identifiers, s.puzzle_indices)
    return PuzzleSet(s.inputs, s.labels, s.identifiers, task, s.vocab_size, s.seq_len, str(s.folder), rows)


def load_puzzles(path, split: str = "test", task: str | None = None) -> PuzzleSet:
    """A `.csv` file or an official dataset folder (its `split`). `task` defaults to the one implied by the file
    (CSV: its header or cell count; official layout: vocab and length)."""
    path = Path(path)
    if path.suffix == ".csv":
        return read_csv(path, task)
    if path.is_dir():
        return read_official(path, split, task)
    raise PtrmError(f"{path}: not a .csv file or an official dataset folder")
