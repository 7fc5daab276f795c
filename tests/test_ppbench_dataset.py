"""A PPBench training set from generated puzzles: resumable generation in shards, held-out puzzles, the paper's
augmented training examples, and the CLI that builds it."""
import numpy as np
from click.testing import CliRunner
from conftest import needs_node

from cli.main import main

from ptrm.tasks.ppbench import build as ppbench_build
from ptrm.tasks.ppbench.build import build_ppbench, generated_ppbench
from ptrm.data import load_puzzles
from ptrm.tasks.ppbench import tokens

KINDS = ("sudoku", "lightup")  # the two fastest to generate


def test_generation_resumes_from_whole_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(ppbench_build, "PPBENCH_SHARD", 2)
    first, ratings = generated_ppbench(tmp_path, "lightup", 3, seed=5)
    assert len(ratings) == 3 and (ratings >= 0).all()
    shards = sorted((tmp_path / "lightup").iterdir())
    assert [p.name for p in shards] == ["seed5-keep0-000000.jsonl", "seed5-keep0-000002.jsonl"]
    stamp = shards[0].stat().st_mtime_ns
    more, _ = generated_ppbench(tmp_path, "lightup", 4, seed=5)  # the first shard is read, the short one redrawn
    assert shards[0].stat().st_mtime_ns == stamp
    assert len(more) == 4
    for a, b in zip(first, more):  # puzzle i depends on (kind, seed, i) only
        np.testing.assert_array_equal(a.clues, b.clues)
        np.testing.assert_array_equal(a.solution, b.solution)


def test_the_training_set_holds_augmented_examples_and_the_heldout_puzzles_stay_out(tmp_path):
    sets = {kind: generated_ppbench(tmp_path / "generated", kind, 4, seed=1)[0] for kind in KINDS}
    counts = build_ppbench(sets, tmp_path, n_heldout=2, n_samples=2, seed=0)
    assert counts["lightup"] == {"heldout": 2, "train_puzzles": 2, "train_examples": 6}
    train = load_puzzles(tmp_path, split="train")
    assert train.task == "ppbench" and len(train) == 12
    assert sorted(np.unique(train.puzzle_identifiers)) == [tokens.KIND_ID[k] for k in KINDS]
    assert tokens.verify(train.inputs, train.labels).all()  # every label solves its (transformed) puzzle
    held = load_puzzles(tmp_path / "heldout" / "sudoku.csv")
    np.testing.assert_array_equal(held.inputs[0], tokens.encode(sets["sudoku"][0])[0])
    # The test split interleaves the kinds, so its first puzzles (what training evaluates on) hold every kind.
    test = load_puzzles(tmp_path, split="test")
    ids = [tokens.KIND_ID[k] for k in KINDS]
    np.testing.assert_array_equal(test.puzzle_identifiers, ids + ids)
    # No training example carries a held-out puzzle's solution.
    assert not (train.labels[:, None] == test.labels[None]).all(-1).any()


@needs_node  # the golden set comes with the generated puzzles
def test_cli_generates_builds_and_reports_the_difficulty(tmp_path):
    args = ["data", "ppbench", "--out", str(tmp_path), "--generate", "3", "--heldout", "1", "--types", "lightup,sudoku"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "rating (search branches)" in res.output and "2 training puzzles -> 20 examples" in res.output
    assert len(load_puzzles(tmp_path, split="train")) == 40
    again = CliRunner().invoke(main, args)  # every shard is there: nothing is drawn again
    assert again.exit_code == 0 and again.output.count("rating") == 2


def test_cli_refuses_an_unknown_type(tmp_path):
    result = CliRunner().invoke(main, ["data", "ppbench", "--out", str(tmp_path), "--generate", "2", "--types", "kakuro"])
    assert result.exit_code != 0 and "kakuro" in result.output
