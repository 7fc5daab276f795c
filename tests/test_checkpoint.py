"""Checkpoints: round trip, and every kind of bad file is a one-line error with exit code 2."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm.checkpoint import load_checkpoint, save_checkpoint
from ptrm.puzzles import PuzzleSet, write_official
from ptrm.tasks.sudoku.sets import generate_sudoku_set
from ptrm.errors import PtrmError
from ptrm.evaluate import evaluate
from ptrm.plan import ExecutionPlan

from conftest import tiny_config


def eval_cli(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_round_trip_keeps_weights_config_and_test_set(tiny_ckpt, puzzles):
    ck = load_checkpoint(tiny_ckpt)
    assert ck.cfg == tiny_config()
    np.testing.assert_array_equal(ck.test_set().inputs, puzzles.inputs)
    again = tiny_ckpt.parent / "again.pt"
    save_checkpoint(again, ck.model, task="sudoku")
    for k, v in load_checkpoint(again).model.state_dict().items():
        assert torch.equal(v, ck.model.state_dict()[k]), k


def test_eval_reports_accuracy_and_saves_outputs(tiny_ckpt, tmp_path):
    out = tmp_path / "o.npz"
    res = eval_cli("--ckpt", tiny_ckpt, "--steps", 3, "--save-outputs", out, "--save-logits")
    assert res.exit_code == 0, res.output
    assert "exact accuracy" in res.output and "Q AUROC" in res.output
    saved = np.load(out)
    assert saved["preds"].shape == (3, 12, 81) and saved["q_halt"].shape == (3, 12)
    assert saved["logits"].shape == (3, 12, 81, 11)


def test_missing_checkpoint(tmp_path):
    res = eval_cli("--ckpt", tmp_path / "nope.pt")
    assert res.exit_code == 2 and "nope.pt: checkpoint not found" in res.output


def test_corrupt_and_truncated_checkpoints(tiny_ckpt, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_ckpt.read_bytes()[:5000])
    for path in (junk, cut):
        res = eval_cli("--ckpt", path)
        assert res.exit_code == 2 and f"{path.name}: not a readable checkpoint" in res.output
        assert "Traceback" not in res.output


def test_shapes_that_contradict_the_config(tiny_ckpt, tmp_path):
    obj = torch.load(tiny_ckpt, weights_only=True)
    obj["model_config"]["hidden_size"] = 48
    bad = tmp_path / "bad.pt"
    torch.save(obj, bad)
    res = eval_cli("--ckpt", bad)
    assert res.exit_code == 2 and "has shape" in res.output


def test_data_that_does_not_match_the_model(tiny_ckpt, tmp_path):
    model = load_checkpoint(tiny_ckpt).model
    FP32 = ExecutionPlan.resolve("cpu", "float32")
    maze_like = PuzzleSet(np.ones((2, 900), np.int32), np.ones((2, 900), np.int32), np.zeros(2, np.int32),
                          "maze", 6, 900, source="mazes.csv")
    with pytest.raises(PtrmError, match="mazes.csv: sequence length 900 != checkpoint's 81"):
        evaluate(model, maze_like, FP32)
    big_vocab = generate_sudoku_set(2, seed=1)
    big_vocab.inputs[0, 0] = 11
    with pytest.raises(PtrmError, match="token id 11 outside the checkpoint's vocab of 11"):
        evaluate(model, big_vocab, FP32)
    # through the CLI: a dataset of unknown shape is refused before any model runs
    short = generate_sudoku_set(2, seed=1).subset(slice(None))
    short.inputs, short.labels, short.seq_len = short.inputs[:, :80], short.labels[:, :80], 80
    write_official(short, tmp_path / "d", "test")
    res = eval_cli("--ckpt", tiny_ckpt, "--data", tmp_path / "d")
    assert res.exit_code == 2 and "seq_len 80" in res.output
