"""Run folders: no run lost, none mixed. A command refuses a folder holding another run, `--overwrite` replaces a
run only once the new one is whole, one writer holds a folder at a time, the manifest hashes its records and
every reader checks it, and `--resume` continues a search cut short (even by kill -9) to the records of an
uninterrupted run."""
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cli.main import main
from ptrm import rules
from ptrm.backends import LocalBackend
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.io import file_sha256
from ptrm.plan import ExecutionPlan
from ptrm.progress import SearchProgress
from ptrm.puzzles import write_official
from ptrm.runfolder import lock, unique_name
from ptrm.search import SearchConfig, work_items
from ptrm.store import load_run
from ptrm.tasks.sudoku.sets import generate_sudoku_set

from conftest import subprocess_env

SMALL = ["--samples", "2", "--steps", "1", "--limit", "3", "--dtype", "float32"]


def search(ckpt, out, *extra):
    where = [] if out is None else ["--out", str(out)]
    return CliRunner().invoke(main, ["search", "--ckpt", str(ckpt), *SMALL, *where, *extra])


@pytest.fixture
def finished(tiny_ckpt, tmp_path):
    """A finished search run: its folder."""
    out = tmp_path / "run"
    assert search(tiny_ckpt, out).exit_code == 0
    return out


def one_line_error(res, *parts, before_work=True):
    """The command failed with one line (the only output when refused before any work), exit 2, no traceback."""
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    lines = res.output.strip().splitlines()
    line = lines[-1]
    assert line.startswith("error: ") and (len(lines) == 1 or not before_work), res.output
    for part in parts:
        assert part in line, line
    return line


def test_a_second_search_into_a_finished_run_is_refused_and_the_run_is_kept(tiny_ckpt, finished):
    before = file_sha256(finished / "records.parquet"), (finished / "manifest.json").read_text()
    res = search(tiny_ckpt, finished, "--seed", "1")
    one_line_error(res, f"{finished}: holds a finished run", "--overwrite", "--resume")
    assert (file_sha256(finished / "records.parquet"), (finished / "manifest.json").read_text()) == before


def test_overwrite_replaces_the_run_and_leaves_nothing_beside_it(tiny_ckpt, finished):
    old = load_run(finished)
    assert search(tiny_ckpt, finished, "--seed", "1", "--overwrite").exit_code == 0
    new = load_run(finished)
    assert new.manifest["search"]["seed"] == 1 and not new.records.equals(old.records)
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]  # no .run.new-*/.run.old-* left
    assert sorted(p.name for p in finished.iterdir()) == ["manifest.json", "records.parquet"]


def test_a_full_disk_while_overwriting_keeps_the_old_run_whole(tiny_ckpt, finished, monkeypatch):
    before = file_sha256(finished / "records.parquet")
    to_parquet = pd.DataFrame.to_parquet

    def full(self, path, **kw):  # the work items fit; the disk fills up as the run's records are written
        if "records.parquet" not in str(path):
            return to_parquet(self, path, **kw)
        Path(path).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    res = search(tiny_ckpt, finished, "--seed", "1", "--overwrite")
    one_line_error(res, f"{finished}: could not write the run (No space left on device); "
                        "the run there before is untouched", before_work=False)
    assert file_sha256(finished / "records.parquet") == before and load_run(finished).manifest["search"]["seed"] == 0
    assert sorted(p.name for p in finished.parent.iterdir()) == ["run"]


def test_a_full_disk_on_a_new_run_saves_nothing(tiny_ckpt, tmp_path, monkeypatch):
    def full(self, path, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)  # the work items' parts cannot be kept either
    out = tmp_path / "run"
    one_line_error(search(tiny_ckpt, out), f"{out / 'parts'}: cannot keep a finished work item (No space left on "
                                           "device); none kept", before_work=False)
    assert not out.exists()  # no work item was kept: nothing to resume, nothing left behind


def test_a_kill_between_the_two_renames_of_a_replacement_is_undone_by_the_next_reader(finished):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = finished.with_name(f".run.old-{gone.pid}")
    os.rename(finished, stale)  # the old run moved aside, the new one not yet in: then kill -9
    assert load_run(finished).manifest["search"]["K"] == 2 and not stale.exists()


def test_default_run_names_never_collide(tiny_ckpt, tmp_path, monkeypatch):
    assert len({unique_name("runs", "search") for _ in range(100)}) == 100  # all in the same second
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert search(tiny_ckpt, None).exit_code == 0
    assert len(list((tmp_path / "runs").glob("search-*/manifest.json"))) == 2


def test_a_folder_that_is_not_a_run_is_refused(tiny_ckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(search(tiny_ckpt, tmp_path), f"{tmp_path}: not empty and holds no run (notes.txt")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_second_writer_is_refused_naming_the_holder(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    with lock(out):
        one_line_error(search(tiny_ckpt, out), f"{out}: another process (pid {os.getpid()}) is writing this run")
        assert [p.name for p in out.iterdir()] == [".lock"]  # the holder's lock, and nothing of the refused run


def test_records_and_a_manifest_of_two_runs_are_refused_by_every_reader(tiny_ckpt, finished, tmp_path):
    other = tmp_path / "other"
    assert search(tiny_ckpt, other, "--seed", "1").exit_code == 0
    shutil.copy(other / "records.parquet", finished / "records.parquet")  # what two unlocked writers could leave
    with pytest.raises(PtrmError, match="records.parquet does not belong to .*manifest.json"):
        load_run(finished)
    res = CliRunner().invoke(main, ["plot", str(finished)])
    one_line_error(res, f"{finished / 'records.parquet'} does not belong to {finished / 'manifest.json'}")


def test_the_manifest_holds_the_hash_of_its_records(finished):
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["records_sha256"] == file_sha256(finished / "records.parquet")


# `ptrm search` in a child process whose work items take `delay` seconds each, so it can be caught mid-run.
SLOW_SEARCH = """
import sys, time
import ptrm.backends as backends
run_work_item = backends.run_work_item
def slow(*args, **kwargs):
    time.sleep({delay})
    return run_work_item(*args, **kwargs)
backends.run_work_item = slow
from cli.main import main
main(sys.argv[1:], prog_name="ptrm")
"""
ITEMS = ["--samples", "2", "--steps", "1", "--limit", "6", "--chunk-size", "2", "--dtype", "float32"]  # 6 items


def slow_search(ckpt, out, delay):
    return subprocess.Popen([sys.executable, "-c", SLOW_SEARCH.format(delay=delay), "search", "--ckpt", str(ckpt),
                             *ITEMS, "--out", str(out)], env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def uninterrupted(ckpt, out):
    assert CliRunner().invoke(main, ["search", "--ckpt", str(ckpt), *ITEMS, "--out", str(out)]).exit_code == 0
    return load_run(out).records


def test_kill_9_mid_search_then_resume_gives_the_records_of_an_uninterrupted_run(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    proc = slow_search(tiny_ckpt, out, delay=0.3)
    while len(list((out / "parts").glob("p*.parquet"))) < 2:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()

    def again(*extra):
        return CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), *ITEMS, "--out", str(out), *extra])
    one_line_error(again(), f"{out}: holds an unfinished run", "--resume continues it, --overwrite starts over")
    one_line_error(again("--resume", "--seed", "1"), "a search with other settings (seed 0 there, 1 now)")
    res = again("--resume")
    assert res.exit_code == 0, res.output
    run = load_run(out)
    assert 2 <= run.manifest["resumed_items"] < 6 and not (out / "parts").exists()
    pd.testing.assert_frame_equal(run.records, uninterrupted(tiny_ckpt, tmp_path / "whole"))


def test_two_searches_racing_for_one_folder_one_is_refused_and_the_other_run_is_intact(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    first = slow_search(tiny_ckpt, out, delay=0.3)
    while not list((out / "parts").glob("p*.parquet")):  # the first writer is at work
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    for extra in ([], ["--resume"], ["--overwrite"]):  # no option lets a second writer in
        second = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), *ITEMS, "--out", str(out), *extra])
        one_line_error(second, f"{out}: another process (pid {first.pid}) is writing this run")
    assert first.wait() == 0, first.communicate()
    pd.testing.assert_frame_equal(load_run(out).records, uninterrupted(tiny_ckpt, tmp_path / "whole"))


# ----------------------------------------------------------------------------- training runs

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-step training run: its config file and its out folder."""
    root = tmp_path_factory.mktemp("train")
    write_official(generate_sudoku_set(16, seed=(7, 0)), root / "data", "train")
    write_official(generate_sudoku_set(4, seed=(7, 1)), root / "data", "test")
    cfg = {"train_data": str(root / "data"), "test_data": str(root / "data"), "out": str(root / "out"),
           "model": {"hidden_size": 32, "puzzle_emb_ndim": 32, "L_layers": 1, "H_cycles": 1, "L_cycles": 1,
                     "halt_max_steps": 2},
           "batch_size": 8, "lr": 1e-3, "max_steps": 2, "eval_every": 100, "eval_limit": 4, "test_limit": 4}
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(main, ["train", str(root / "cfg.yaml")])
    assert res.exit_code == 0, res.output
    return root / "cfg.yaml", root / "out"


def test_a_training_run_into_a_finished_one_is_refused(trained):
    cfg, out = trained
    before = file_sha256(out / "model.pt"), file_sha256(out / "resume.pt")
    res = CliRunner().invoke(main, ["train", str(cfg), "max_steps=3"])
    one_line_error(res, f"{out}: holds a training run (model.pt, resume.pt); --resume continues it")
    assert (file_sha256(out / "model.pt"), file_sha256(out / "resume.pt")) == before


@pytest.mark.parametrize("override, message", [
    ("model.hidden_size=64", "is a run with model.hidden_size 32, this config says 64"),
    ("lr=0.01", "is a run with lr 0.001, this config says 0.01"),
    ("betas=[0.9,0.99]", "is a run with betas [0.9, 0.95], this config says [0.9, 0.99]"),
])
def test_a_resume_with_another_architecture_or_optimiser_is_refused_naming_the_field(trained, override, message):
    cfg, out = trained
    res = CliRunner().invoke(main, ["train", str(cfg), override, "--resume"])
    one_line_error(res, f"--resume: {out / 'resume.pt'} {message}")


def test_an_empty_train_config_names_the_missing_key(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    one_line_error(CliRunner().invoke(main, ["train", str(tmp_path / "empty.yaml")]), "train_data is not set")


# ----------------------------------------------------------------------------- checked before the work

def commands(ckpt, run, bad, train_cfg):
    """Each command that writes, its output at `bad` (a path that cannot be written)."""
    return {
        "search": ["search", "--ckpt", ckpt, *SMALL, "--out", bad],
        "eval --save-outputs": ["eval", "--ckpt", ckpt, "--limit", "2", "--save-outputs", f"{bad}/o.npz"],
        "sweep": ["sweep", "--ckpt", ckpt, "--sigmas", "0", "--samples", "2", "--limit", "2", "--out", bad],
        "plot": ["plot", run, "--out", bad],
        "plot basin": ["plot", "basin", "--ckpt", ckpt, "--samples", "2", "--steps", "1", "--limit", "2", "--out", bad],
        "train": ["train", train_cfg, f"out={bad}"],
        "data": ["data", "sudoku", "--out", bad, "--train", "2", "--test", "1"],
        "convert": ["convert", ckpt, f"{bad}/tiny.safetensors"],
    }


@pytest.mark.parametrize("name", ["search", "eval --save-outputs", "sweep", "plot", "plot basin", "train", "data",
                                  "convert"])
@pytest.mark.parametrize("fault", ["under a file", "read-only"])
def test_an_unwritable_output_is_refused_before_any_work(name, fault, tiny_ckpt, finished, trained, tmp_path,
                                                         monkeypatch):
    (tmp_path / "file").write_text("a file, not a folder")
    bad = tmp_path / "file" / "x" if fault == "under a file" else tmp_path / "ro"
    if fault == "read-only":  # tests run as root, whom chmod does not stop: the file system's answer, faked
        def refuse(*args, dir=None, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        monkeypatch.setattr("ptrm.runfolder.tempfile.TemporaryFile", refuse)
    work = []
    for target in ("cli.search.run_search", "ptrm.sweep.run_search", "cli.evaluate.evaluate", "cli.convert.convert",
                   "ptrm.tasks.sudoku.command.write_official", "cli.train.Trainer", "ptrm.plots.plot_folder",
                   "ptrm.basin.basin_states"):  # the work each command does: never reached
        monkeypatch.setattr(target, lambda *a, **k: work.append(1))
    args = [str(a) for a in commands(tiny_ckpt, finished, bad, trained[0])[name]]
    res = CliRunner().invoke(main, args)
    line = one_line_error(res, "cannot write here")
    assert ("Not a directory" if fault == "under a file" else "Read-only file system") in line
    assert not work and not (tmp_path / "ro").exists()


@pytest.mark.parametrize("args, message", [
    (["--seed", str(2**64)], "Invalid value for '--seed'"),
    (["--seed", "-1"], "Invalid value for '--seed'"),
    (["--usd-per-hour", "-5"], "--usd-per-hour must be >= 0, got -5.0"),
    (["--usd-per-hour", "nan"], "--usd-per-hour must be >= 0, got nan"),
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--arch", "H_cycles=3"], "--arch H_cycles=3: {ckpt} is a ptrm checkpoint, which records its architecture "
                               "(H_cycles=2); --arch is for official checkpoints"),
])
def test_options_are_refused_up_front_and_leave_nothing(tiny_ckpt, tmp_path, args, message):
    out = tmp_path / "run"
    res = search(tiny_ckpt, out, *args)
    assert res.exit_code == 2 and message.format(ckpt=tiny_ckpt) in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_a_sweep_with_no_workers_and_a_dataset_of_no_types_leave_nothing(tiny_ckpt, tmp_path):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["sweep", "--ckpt", str(tiny_ckpt), "--sigmas", "0", "--workers", "0",
                                    "--out", str(out)])
    assert res.exit_code == 2 and not out.exists()
    res = CliRunner().invoke(main, ["data", "ppbench", "--out", str(out), "--types", ""])
    one_line_error(res, "--types: no type given")
    assert not out.exists()


def test_a_search_over_its_budget_is_refused_with_the_estimate_unless_yes(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    res = search(tiny_ckpt, out, "--samples", "100000000")  # --limit 3: 300 million rollouts
    line = one_line_error(res, "300,000,000 rollouts, 300,000,000 rollout steps: about", "GiB of records on this "
                               "machine, over the budget of", "--yes to run it anyway")
    assert not out.exists()
    line = one_line_error(search(tiny_ckpt, out, "--budget-hours", "1e-9"), "over the budget of 1e-09 h;")
    assert "GiB;" not in line
    assert search(tiny_ckpt, out, "--budget-hours", "1e-9", "--yes").exit_code == 0


# ----------------------------------------------------------------------------- progress

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_moves_every_supervision_step_and_counts_puzzles_and_best_q(tiny_ckpt, puzzles):
    ck = load_checkpoint(tiny_ckpt)
    cfg = SearchConfig(K=4, sigma=0.3, D=3, dtype="float32")  # one work item of 12 puzzles x 4 rollouts
    heard = []
    backend = LocalBackend(ck.model)
    with SearchProgress("search", 12, 4, 3, True, [], stream=Terminal()) as bar:
        backend.on_step = lambda rows: (heard.append(rows), bar.step(rows))
        for records in backend.map(puzzles, work_items(12, 4, 512), cfg, ExecutionPlan.resolve("cpu", "float32")):
            assert bar.bar.n == 12 * 4 * 3  # before the item is in, its steps are counted
            bar.item(records)
    assert heard == [48, 48, 48]  # the bar moved three times within the one item
    best = rules.per_puzzle_at_k(records, "best_q", 4)[0]
    assert bar._summary() == f"puzzles 12/12, best-Q {100 * np.mean(best):.1f}%"
    assert "puzzles 12/12" in bar.stream.getvalue() and "144/144" in bar.stream.getvalue()


def test_a_log_gets_one_line_per_work_item_and_quiet_gets_none(tiny_ckpt, tmp_path):
    args = ["search", "--ckpt", str(tiny_ckpt), *ITEMS, "--out"]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "a")])
    lines = [line for line in res.stderr.splitlines() if line.startswith("search K=2")]
    assert len(lines) == 6 and lines[0].startswith("search K=2 sigma=0.1: 17% of 12 rollout steps, puzzles 1/6, "
                                                   "best-Q ")
    assert "100% of 12 rollout steps, puzzles 6/6" in lines[-1]
    res = CliRunner().invoke(main, [*args, str(tmp_path / "b"), "--quiet"])
    assert res.exit_code == 0 and res.stderr == ""
