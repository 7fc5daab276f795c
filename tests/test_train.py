"""Training: a short run learns, checkpoints round-trip, resume continues, bad configs are refused."""
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from cli.main import main
from conftest import needs_node, subprocess_env
from ptrm.checkpoint import load_checkpoint, read_file
from ptrm.tasks.ppbench.build import write_ppbench_golden
from ptrm.tasks.sudoku.sets import generate_sudoku_set
from ptrm.puzzles import write_official
from ptrm.errors import PtrmError
from ptrm.tasks.ppbench.task import by_type
from ptrm.evaluate import evaluate
from ptrm.plan import ExecutionPlan
from ptrm.train import Trainer, load_config, lr_at, sequence_loss


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_official(generate_sudoku_set(64, seed=(7, 0), max_clues=45), root, "train")
    write_official(generate_sudoku_set(16, seed=(7, 1)), root, "test")
    return root


def write_config(tmp_path, data_dir, **extra):
    cfg = {"train_data": str(data_dir), "test_data": str(data_dir), "out": str(tmp_path / "out"),
           "model": {"hidden_size": 32, "puzzle_emb_ndim": 32, "L_layers": 1, "H_cycles": 1, "L_cycles": 2,
                     "halt_max_steps": 4},
           "batch_size": 16, "lr": 3e-3, "lr_warmup_steps": 5, "eval_every": 20, "eval_limit": 8,
           "max_minutes": 5, **extra}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_short_run_lowers_the_loss_and_saves_a_loadable_checkpoint(tmp_path, data_dir):
    cfg = load_config(write_config(tmp_path, data_dir), ["max_steps=60"])
    metrics = Trainer(cfg).run(progress=False)
    curve = (tmp_path / "out" / "curve.csv").read_text().splitlines()
    first, last = (float(line.split(",")[2]) for line in (curve[1], curve[-1]))  # lm_loss column
    assert last < first
    assert (tmp_path / "out" / "curve.png").stat().st_size > 0
    ck = load_checkpoint(tmp_path / "out" / "model.pt")
    assert ck.meta["train_config"]["max_steps"] == 60 and metrics["train_steps"] == 60
    # the shipped test set is inside the checkpoint and re-evaluates to the recorded accuracy
    again = evaluate(ck.model, ck.test_set(), ExecutionPlan.resolve(ck.model.device, "auto")).metrics
    assert again["exact_accuracy"] == metrics["exact_accuracy"]
    assert torch.load(tmp_path / "out" / "model.pt", weights_only=True)["format_version"] == 1


def test_resume_continues_from_the_saved_step(tmp_path, data_dir):
    path = write_config(tmp_path, data_dir)
    Trainer(load_config(path, ["max_steps=10"])).run(progress=False)
    resumed = Trainer(load_config(path, ["max_steps=15"]), resume=True)
    assert resumed.step == 10
    assert resumed.run(progress=False)["train_steps"] == 15


def test_a_constant_lr_run_resumes_into_a_cosine_decay_that_ends_at_max_steps(tmp_path, data_dir):
    path = write_config(tmp_path, data_dir)
    Trainer(load_config(path, ["max_steps=10"])).run(progress=False)
    annealed = Trainer(load_config(path, ["max_steps=20", "lr_schedule=cosine", "lr_min_ratio=0.1"]), resume=True)
    assert annealed.step == 10
    # at step 10 of 20 (warm-up 5): a third of the way down the cosine, from lr 3e-3 to 3e-4 at max_steps
    assert lr_at(annealed.cfg, 10) == pytest.approx(3e-3 * (0.1 + 0.45 * 1.5))
    assert lr_at(annealed.cfg, 20) == pytest.approx(3e-4)
    assert annealed.run(progress=False)["train_steps"] == 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_the_gpu_resumes_and_its_checkpoint_loads_on_a_cpu(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("PTRM_DEVICE", "cuda")
    path = write_config(tmp_path, data_dir)
    first = Trainer(load_config(path, ["max_steps=10"]))
    assert first.device.type == "cuda"
    first.run(progress=False)
    resumed = Trainer(load_config(path, ["max_steps=15"]), resume=True)
    assert resumed.step == 10 and resumed.run(progress=False)["train_steps"] == 15
    ck = load_checkpoint(tmp_path / "out" / "model.pt", device="cpu")
    assert ck.model.device.type == "cpu" and ck.meta["metrics"]["train_steps"] == 15


def test_snapshots_along_training_and_a_resume_without_adam_moments(tmp_path, data_dir, capsys):
    path = write_config(tmp_path, data_dir, snapshot_every=4)
    Trainer(load_config(path, ["max_steps=8"])).run(progress=False)
    snaps = sorted(p.name for p in (tmp_path / "out" / "snapshots").iterdir())
    assert snaps == ["step-000004.pt", "step-000008.pt"]
    assert load_checkpoint(tmp_path / "out" / "snapshots" / snaps[0]).meta["metrics"]["train_steps"] == 4
    # the committable pieces: weights and EMA; AdamW's moments may stay behind on the old machine
    (tmp_path / "out" / "resume-adam.pt").unlink()
    resumed = Trainer(load_config(path, ["max_steps=10"]), resume=True)
    assert resumed.step == 8 and "AdamW moments restart" in capsys.readouterr().out
    assert resumed.run(progress=False)["train_steps"] == 10


def test_sigterm_stops_a_run_with_its_resume_state_saved(tmp_path, data_dir):
    # kill, `timeout` and a scheduler's preemption send SIGTERM; background jobs of a script ignore Ctrl-C
    path = write_config(tmp_path, data_dir, max_steps=10**6, max_minutes=60, checkpoint_minutes=60)
    env = {**subprocess_env(), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "train", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    seen = b""
    while not re.search(rb"\| [1-9]\d*/1000000", seen):  # a step done (the out folder exists before: its lock)
        seen += proc.stdout.read(1) or pytest.fail(f"the run ended: {seen.decode()}")
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0].decode()
    step = read_file(tmp_path / "out" / "resume.pt")["step"]  # no periodic save in an hour: the signal's
    assert proc.returncode != 0 and step > 0
    assert f"interrupted at step {step}; continue with --resume" in output


def test_stablemax_loss_is_a_proper_cross_entropy():
    logits = torch.tensor([[[5.0, -1.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[0, -100]])
    soft = sequence_loss(logits, labels, "softmax")
    stable = sequence_loss(logits, labels, "stablemax")
    assert soft.item() == pytest.approx(-torch.log_softmax(logits[0, 0], -1)[0].item())
    s = torch.tensor([6.0, 0.5, 1.0])  # s(x) = x + 1 for x >= 0, 1 / (1 - x) below
    assert stable.item() == pytest.approx(-torch.log(s[0] / s.sum()).item())


def test_unknown_config_key_is_a_one_line_error(tmp_path, data_dir):
    path = write_config(tmp_path, data_dir)
    res = CliRunner().invoke(main, ["train", str(path), "model.hiden_size=64"])
    assert res.exit_code == 2 and "unknown config key 'model.hiden_size'" in res.output
    res = CliRunner().invoke(main, ["train", str(path), "learning_rate=1"])
    assert res.exit_code == 2 and "unknown config key 'learning_rate'" in res.output


def test_ppbench_accuracy_is_read_per_type():
    exact = np.array([1, 0, 1, 1, 0], dtype=bool)
    kinds = np.array([4, 0, 0, 4, 1])  # puzzle identifiers: tapa, sudoku, sudoku, tapa, lightup
    assert by_type(exact, kinds) == {"sudoku": 0.5, "lightup": 0.0, "tapa": 1.0}


@needs_node  # pzpr.js decodes the golden set
def test_a_ppbench_model_trains_on_the_golden_csv_and_searches(tmp_path):
    """Training is task-generic: PPBench sets (augmented when generated) train with augment: false, and the
    checkpoint knows its task, so `ptrm search` scores it with the rules' verifier."""
    write_ppbench_golden(tmp_path / "pp")
    lightup = tmp_path / "pp" / "golden" / "lightup.csv"
    with pytest.raises(PtrmError, match="augment: false"):
        Trainer(load_config(write_config(tmp_path, lightup), ["max_steps=2"]))
    cfg = load_config(write_config(tmp_path, lightup, augment=False), ["max_steps=4", "model.num_puzzle_identifiers=6", "model.pos_encodings=rope"])
    metrics = Trainer(cfg).run(progress=False)
    assert list(metrics["exact_by_type"]) == list(metrics["cell_by_type"]) == ["lightup"]  # each type apart
    ck = load_checkpoint(tmp_path / "out" / "model.pt")
    assert ck.task == "ppbench" and ck.cfg.vocab_size == 395 and ck.cfg.seq_len == 100
    result = CliRunner().invoke(main, ["search", "--ckpt", str(tmp_path / "out" / "model.pt"), "--data", str(lightup),
                                       "--samples", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "verified@2" in result.output
