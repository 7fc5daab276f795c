"""Faults: kill -9 in the middle of a write leaves the old file or the new one, never half of one; the next
write removes what the killed writer left behind and says so. Unsafe pickles are refused in one line."""
import argparse
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pandas as pd
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm.checkpoint import load_checkpoint, read_file
from ptrm.io import atomic_write_text, remove_stale_temps
from ptrm.runner import SearchRun
from ptrm.model import TRM
from ptrm.store import load_run, save_run
from ptrm.train import Trainer

from conftest import tiny_config, subprocess_env

KILLS = 2  # per target: each costs a Python start-up (torch import), seconds on a busy machine

SETUP = """
import sys, types, numpy as np, pandas as pd, torch
sys.path.insert(0, {tests!r})
from conftest import tiny_config
from ptrm.model import TRM
"""

WRITERS = {
    "checkpoint": """
from ptrm.checkpoint import save_checkpoint
model = TRM(tiny_config())
print("ready", flush=True)
for i in range(10**9):
    with torch.no_grad():
        model.q_head.weight.fill_(i)
    save_checkpoint(OUT / "model.pt", model, task="sudoku", metrics={{"i": i}})
""",
    "resume": """
from ptrm.train import Trainer, TrainConfig
model, ema = TRM(tiny_config()), TRM(tiny_config())
me = types.SimpleNamespace(model=model, ema=ema, opt=torch.optim.AdamW(model.parameters()), out=OUT,
                           elapsed=0.0, curve=[], cfg=TrainConfig(), rng=np.random.default_rng(0),
                           device=torch.device("cpu"))
print("ready", flush=True)
for i in range(10**9):
    me.step = i
    Trainer._save_resume(me)
""",
    "records": """
from ptrm.runner import SearchRun
from ptrm.store import save_run
print("ready", flush=True)
for i in range(10**9):
    records = pd.DataFrame({{"puzzle": np.repeat(np.arange(500), 4), "k": np.tile(np.arange(4), 500),
                            "q_halt": np.full(2000, float(i))}})
    manifest = {{"i": i, "checkpoint": {{"path": "x"}}, "data": {{"n_puzzles": 500}}, "search": {{"K": 4}}}}
    save_run(SearchRun(records, manifest), OUT)
""",
}


def kill_writer_at_random_moments(target, out, seed=0):
    """Start a writer of `target` into `out` and SIGKILL it at a random moment, KILLS times."""
    rng = random.Random(seed)
    code = SETUP.format(tests=os.path.dirname(__file__)) + f"from pathlib import Path\nOUT = Path({str(out)!r})\n" \
        + textwrap.dedent(WRITERS[target]).format()
    env = subprocess_env()
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))  # several writes in, then anywhere inside one
        proc.send_signal(signal.SIGKILL)
        proc.wait()  # reaped: its pid is gone, as after a real crash


def test_kill_during_checkpoint_save(tmp_path, capsys):
    kill_writer_at_random_moments("checkpoint", tmp_path)
    i = load_checkpoint(tmp_path / "model.pt").meta["metrics"]["i"]  # a whole file: old or new
    assert torch.all(load_checkpoint(tmp_path / "model.pt").model.q_head.weight == i)
    left = list(tmp_path.glob(".model.pt.*.tmp"))
    removed = remove_stale_temps(tmp_path / "model.pt")
    assert sorted(removed) == sorted(left) and not list(tmp_path.glob(".*.tmp"))
    assert capsys.readouterr().err.count("partial write left by process") == len(left)


def test_kill_during_resume_state_write(tmp_path, capsys):
    kill_writer_at_random_moments("resume", tmp_path, seed=1)
    steps = {name: read_file(tmp_path / name)["step"] for name in ("resume.pt", "resume-ema.pt", "resume-adam.pt")}
    # resume.pt is written last: its companions are from its save or the one after, never older
    assert steps["resume-ema.pt"] in (steps["resume.pt"], steps["resume.pt"] + 1)
    model = TRM(tiny_config())
    me = types.SimpleNamespace(model=model, ema=TRM(tiny_config()), opt=torch.optim.AdamW(model.parameters()),
                               out=tmp_path, rng=np.random.default_rng(0), device=torch.device("cpu"))
    Trainer._load_resume(me)  # resumes either way, and says so when the EMA had to restart
    assert me.step == steps["resume.pt"]
    restarted = steps["resume-ema.pt"] != steps["resume.pt"]
    assert ("the EMA restarts from the weights" in capsys.readouterr().out) == restarted


def test_kill_during_records_write(tmp_path):
    """Each save after the first replaces a finished run (written beside it, then swapped in): a kill anywhere
    leaves the old run or the new one, whole, and the next reader tidies what the swap left beside the folder."""
    kill_writer_at_random_moments("records", tmp_path, seed=2)
    if (tmp_path / "manifest.json").is_file() or list(tmp_path.parent.glob(f".{tmp_path.name}.old-*")):
        run = load_run(tmp_path)  # checks the records against the manifest's hash
        assert (run.records.q_halt == run.manifest["i"]).all() and len(run.records) == 2000
        assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*-*"))
    else:  # cut inside the first save: not a finished run, and no tool reads it as one
        assert not (tmp_path / "manifest.json").exists()


def test_a_killed_sweep_cell_is_cleaned_up_on_the_next_write(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".records.parquet.{dead.pid}.tmp"
    stale.write_bytes(b"half a parquet file")
    records = pd.DataFrame({"puzzle": [0, 0], "k": [0, 1], "q_halt": [0.5, -0.5]})
    save_run(SearchRun(records, {"checkpoint": {"path": "x"}, "data": {"n_puzzles": 1}, "search": {"K": 2}}), tmp_path)
    assert not stale.exists()
    assert f"removed {stale}: a partial write left by process {dead.pid}, which is gone" in capsys.readouterr().err
    # a live writer's temp file is never touched
    live = tmp_path / f".summary.csv.{os.getppid()}.tmp"
    live.write_text("in progress")
    atomic_write_text(tmp_path / "summary.csv", "a,b\n")
    assert live.exists()


def test_a_pickle_with_python_objects_is_refused_in_plain_words(tiny_ckpt, tmp_path):
    obj = torch.load(tiny_ckpt, weights_only=True)
    obj["args"] = argparse.Namespace(lr=1e-3)  # what many training scripts store beside the weights
    path = tmp_path / "objects.pt"
    torch.save(obj, path)
    res = CliRunner().invoke(main, ["eval", "--ckpt", str(path)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert f"{path}: holds Python objects besides tensors (argparse.Namespace); ptrm loads weights only" in res.output
    assert "PyTorch 2.6" not in res.output
    # the way out it prints works on a trusted file, here for an official-style state dict of tensors
    sd = {**obj["state_dict"], "args": argparse.Namespace(lr=1e-3)}
    torch.save(sd, path)
    snippet = res.output.split('python -c "')[1].split('"')[0]
    subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, check=True)
    assert set(read_file(tmp_path / "weights.pt")) == set(obj["state_dict"])
