"""What the core knows about a puzzle family: the `Task` interface and the registry of tasks.

A puzzle family (Sudoku, maze, ARC, PPBench, or one a user defines) is one `Task` subclass in one package under
ptrm/tasks/, registered by name with `register`. The core (model, search, runner, metrics, report, plots, sweep,
train, evaluate, cli) asks the task it resolved once, from the data (`of_shape`, a CSV's header) or from the
checkpoint, and never names one. Everything a task leaves alone falls back to the defaults here: no rules to
verify, no augmentation, no extra record columns, metrics or tables.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet


@dataclass(frozen=True)
class TaskOption:
    """A command-line option a task adds to `ptrm search` and `ptrm eval` (ARC: --arc-augs): `option` is the click
    decorator (made in the task's command module), `apply(pset, value)` the set it asks for, called when given."""
    name: str
    option: Callable
    apply: Callable


class Task:
    """A puzzle family. Set the spec; override what the family has."""
    name: str = ""
    vocab_size: int = 0
    seq_len: int = 0
    paper_cycles: dict = {}        # H_cycles, L_cycles, halt_max_steps of the paper's run (what official files omit)
    pooling = None                 # ptrm.rules.Pooling: rows whose candidates pool (ARC); None: each row alone
    csv_header: tuple = ()         # the leading CSV columns that mark this task's CSV format (else: question length)
    baseline_metrics: tuple = ()   # the keys of `eval_metrics` the search's deterministic baseline keeps
    options: tuple = ()            # TaskOption, for `ptrm search` and `ptrm eval`
    data_command = None            # the click command `ptrm data <name>`, or None

    def read_csv(self, path) -> PuzzleSet:
        raise PtrmError(f"{path}: no CSV reader for task {self.name!r}")

    def rows(self, folder, identifiers: np.ndarray, puzzle_indices: np.ndarray) -> pd.DataFrame | None:
        """Per-row facts of an official split in `folder` (see PuzzleSet.rows), or None."""
        return None

    def verify(self, inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
        """(N,) bool: does each answer (token row) satisfy its puzzle's rules? A verifier with no false positives on
        puzzles with one solution; a family without rules to check verifies nothing (all False)."""
        return np.zeros(len(inputs), bool)

    augment = None  # (inputs, labels, rng) -> (inputs, labels): a fresh augmentation per training draw, or None

    def record_columns(self, preds: np.ndarray, labels: np.ndarray, rows: pd.DataFrame) -> dict:
        """Extra record columns for answers `preds` of the dataset rows `rows` (sets with per-row facts only)."""
        return {}

    def eval_metrics(self, records: pd.DataFrame, pset: PuzzleSet) -> dict:
        """Extra figures of the deterministic evaluation, from its records (one rollout per puzzle of `pset`, with
        this task's columns); they may replace the generic ones (ARC's exact accuracy is the official
        crop-and-compare)."""
        return {}

    def eval_lines(self, metrics: dict) -> list[str]:
        """The lines `ptrm eval` prints for `eval_metrics`."""
        return []

    def search_tables(self, run) -> list[tuple[str, pd.DataFrame]]:
        """(heading, table) pairs `ptrm search` prints after the summary by rule."""
        return []

    def check(self, model, pset: PuzzleSet) -> None:
        """Refuse rows the checkpoint cannot read although the shapes fit (ARC: identifiers it never trained)."""

    def align(self, pset: PuzzleSet, ckpt_path, puzzle_emb_ndim: int) -> PuzzleSet:
        """`pset` matched to the checkpoint at `ckpt_path` (ARC: identifiers renumbered by name)."""
        return pset

    def from_text(self, text: str) -> PuzzleSet:
        raise PtrmError(f"task {self.name!r} cannot read a puzzle from text")

    def show(self, answer_tokens: np.ndarray) -> str:
        return " ".join(map(str, answer_tokens))


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Make `task` known by its name (a second task of that name replaces it)."""
    if not task.name or task.vocab_size < 1 or task.seq_len < 1:
        raise PtrmError(f"a task needs a name, vocab_size and seq_len, got {task.name!r}")
    REGISTRY[task.name] = task
    return task


def get(name: str) -> Task:
    if name not in REGISTRY:
        raise PtrmError(f"unknown task {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def of_shape(vocab_size: int, seq_len: int) -> str | None:
    """The task whose (vocab, seq_len) these are: how an official dataset or checkpoint that names none is read."""
    found = [t.name for t in REGISTRY.values() if (t.vocab_size, t.seq_len) == (vocab_size, seq_len)]
    return found[0] if len(found) == 1 else None


def of_vocab(vocab_size: int) -> str | None:
    """The one task with this vocabulary, if only one has it."""
    found = [t.name for t in REGISTRY.values() if t.vocab_size == vocab_size]
    return found[0] if len(found) == 1 else None


def with_csv() -> list[Task]:
    """The tasks that read CSV files."""
    return [t for t in REGISTRY.values() if type(t).read_csv is not Task.read_csv]
