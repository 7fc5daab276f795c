"""A puzzle family is one unit: a toy family defined in this file (4x4 Latin squares), registered, runs end to end
through the public API (build data, train, search, report, plot) with nothing under ptrm/ outside ptrm/tasks/
naming it; and no core module names a built-in family."""
import ast
from pathlib import Path

import numpy as np
import pytest

from ptrm import plots, report, tasks
from ptrm.checkpoint import load_checkpoint
from ptrm.data import load_puzzles
from ptrm.puzzles import PuzzleSet, write_official
from ptrm.runner import run_search
from ptrm.search import SearchConfig
from ptrm.train import TrainConfig, Trainer

N = 4  # a Latin square of order 4: every row and column holds each of 4 symbols once
BLANK = 1  # tokens: PAD 0, blank 1, symbol s -> s + 2


def latin_squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n puzzles (half the cells blank) with their squares, as token rows: the cyclic square with its rows,
    columns and symbols shuffled."""
    rng = np.random.default_rng(seed)
    base = (np.arange(N)[:, None] + np.arange(N)[None]) % N
    squares = np.stack([rng.permutation(N)[base[rng.permutation(N)][:, rng.permutation(N)]] for _ in range(n)])
    labels = squares.reshape(n, N * N) + 2
    blank = rng.random(labels.shape) < 0.5
    return np.where(blank, BLANK, labels).astype(np.int32), labels.astype(np.int32)


class Latin(tasks.Task):
    name = "latin4"
    vocab_size, seq_len = N + 2, N * N

    @staticmethod
    def augment(inputs, labels, rng):
        """Relabel the symbols, one permutation per row (blank and PAD stay)."""
        perm = np.stack([np.concatenate([[0, BLANK], rng.permutation(N) + 2]) for _ in range(len(inputs))])
        return np.take_along_axis(perm, inputs, 1), np.take_along_axis(perm, labels, 1)

    def verify(self, inputs, answers):
        grid = answers.reshape(-1, N, N) - 2
        full = lambda axis: (np.sort(grid, axis=axis) == np.arange(N).reshape((1, N, 1) if axis == 1 else (1, 1, N))).all((1, 2))
        kept = ((inputs == BLANK) | (inputs == answers)).all(1)
        return full(1) & full(2) & kept


@pytest.fixture
def latin(monkeypatch):
    monkeypatch.setitem(tasks.REGISTRY, Latin.name, Latin())


def test_a_toy_family_builds_trains_searches_reports_and_plots(latin, tmp_path):
    root = tmp_path / "data"
    for split, (n, seed) in {"train": (64, 0), "test": (8, 1)}.items():
        inputs, labels = latin_squares(n, seed)
        write_official(PuzzleSet(inputs, labels, np.zeros(n, np.int32), "latin4", N + 2, N * N, "generated"), root, split)
    test = load_puzzles(root)
    assert test.task == "latin4"  # the registry resolves it from (vocab, seq_len)
    assert tasks.get("latin4").verify(test.inputs, test.labels).all()

    cfg = TrainConfig(train_data=str(root), test_data=str(root), out=str(tmp_path / "train"), batch_size=16,
                      max_steps=3, eval_every=3, eval_limit=8, test_limit=8, dtype="float32",
                      model=dict(hidden_size=16, puzzle_emb_ndim=0, L_layers=1, H_cycles=1, L_cycles=1,
                                 halt_max_steps=2))
    Trainer(cfg).run(progress=False)  # draws go through Latin.augment
    ck = load_checkpoint(tmp_path / "train" / "model.pt")
    assert ck.task == "latin4"

    run = run_search(ck, ck.test_set(), SearchConfig(K=4, sigma=0.3, dtype="float32"), progress=False)
    assert len(run.records) == 8 * 4 and run.manifest["data"]["task"] == "latin4"
    assert not (run.records.verified & ~run.records.correct).any()  # the toy's rules, no false positives
    table = report.rule_table(run)
    assert {"deterministic TRM", "best-Q@4", "verified@4"} <= set(table.method)
    assert plots.width_scaling(run, tmp_path / "width.png").stat().st_size > 0


CORE = [p for p in Path(__file__).parents[1].joinpath("ptrm").rglob("*.py") if "tasks" not in p.parts]
CORE += list(Path(__file__).parents[1].joinpath("cli").glob("*.py"))
FAMILIES = {name for name in tasks.REGISTRY}


def _names_in_code(path: Path) -> set[str]:
    """The words of a module's code (identifiers, imported modules, string literals), docstrings left out:
    prose may give an example, code may not branch on a family."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words |= set(node.value.replace("-", " ").replace("_", " ").replace(".", " ").lower().split())
        elif isinstance(node, ast.Name):
            words |= set(node.id.lower().split("_"))
        elif isinstance(node, ast.Attribute):
            words |= set(node.attr.lower().split("_"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            words |= {part for a in node.names for part in a.name.lower().replace(".", "_").split("_")}
            words |= set((getattr(node, "module", None) or "").lower().replace(".", "_").split("_"))
    return words


@pytest.mark.parametrize("path", CORE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_core_module_names_a_family(path):
    assert FAMILIES == {"sudoku", "maze", "arc", "ppbench"}
    assert not FAMILIES & _names_in_code(path), f"{path} names {FAMILIES & _names_in_code(path)}"
