"""Sweeps: one run folder per (sigma, D) cell, a summary across cells, resume after kill -9, bad folders."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm.backends import LocalBackend
from ptrm.checkpoint import load_checkpoint, pack_test_set, save_checkpoint
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.runner import head, read_at_depth, run_search
from ptrm.search import SearchConfig
from ptrm.store import load_run
from ptrm import sweep as sweep_module
from ptrm.sweep import run_sweep, stored_baseline

from conftest import assert_same_records_across_batches, tiny_config

# A 2 x 2 grid over 6 puzzles, 4 rollouts each: a few seconds for the whole sweep.
GRID = ["--sigmas", "0,0.3", "--steps", "1,2", "--samples", "4", "--limit", "6"]
CELLS = ["sigma=0.0_D=1", "sigma=0.0_D=2", "sigma=0.3_D=1", "sigma=0.3_D=2"]


def sweep(ckpt, out, *args):
    return CliRunner().invoke(main, ["sweep", "--ckpt", str(ckpt), "--out", str(out), *GRID, *args])


def folder_state(out):
    """Every file under `out` with its bytes: equal states mean nothing was touched."""
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_ckpt, tmp_path_factory):
    """A sweep run once, uninterrupted: the reference the other tests compare against."""
    out = tmp_path_factory.mktemp("sweep") / "grid"
    res = sweep(tiny_ckpt, out)
    assert res.exit_code == 0, res.output
    return out


def test_every_cell_is_a_run_with_the_records_of_a_plain_search(finished, tiny_ckpt, puzzles):
    assert sorted(p.name for p in finished.iterdir() if p.is_dir()) == ["deterministic", *CELLS]  # + the baseline
    assert not list(finished.glob("*/parts"))  # a finished cell keeps its records, not its parts
    cell = load_run(finished / "sigma=0.3_D=2")
    ck = load_checkpoint(tiny_ckpt)
    alone = run_search(ck, puzzles.head(6), SearchConfig(K=4, sigma=0.3, D=2), progress=False, deterministic=False)
    pd.testing.assert_frame_equal(cell.records, alone.records)
    assert cell.manifest["deterministic"]["exact_accuracy"] >= 0


def test_summary_has_one_row_per_cell_in_csv_and_markdown(finished):
    table = pd.read_csv(finished / "summary.csv")
    assert list(table[["sigma", "D"]].itertuples(index=False, name=None)) == [(0.0, 1), (0.0, 2), (0.3, 1), (0.3, 2)]
    for col in ("deterministic", "best-Q@K", "mode@K", "Q-weighted@K", "pass@K", "seconds/puzzle", "GFLOP/puzzle"):
        assert table[col].notna().all(), col
    assert (table["pass@K"] >= table["best-Q@K"]).all()  # the oracle bounds every selection rule
    assert (table["GFLOP/puzzle"][table.D == 2].values == 2 * table["GFLOP/puzzle"][table.D == 1].values).all()
    md = (finished / "summary.md").read_text()
    assert md.count("\n| 0.3 |") == 2 and "best-Q@K" in md


def test_rerunning_a_finished_sweep_recomputes_nothing(finished, tiny_ckpt):
    manifests = {c: (finished / c / "manifest.json").read_bytes() for c in CELLS}
    res = sweep(tiny_ckpt, finished, "--resume")
    assert res.exit_code == 0, res.output
    assert "4 finished earlier, 0 to run" in res.output
    assert manifests == {c: (finished / c / "manifest.json").read_bytes() for c in CELLS}


def test_the_cells_of_one_depth_share_one_stored_deterministic_run(tiny_ckpt, puzzles, tmp_path, monkeypatch):
    ck, pset, out = load_checkpoint(tiny_ckpt), puzzles.head(6), tmp_path / "shared"
    depths, real = [], sweep_module.deterministic_run
    monkeypatch.setattr(sweep_module, "deterministic_run",
                        lambda ckpt, p, D, plan, backend=None: depths.append(D) or real(ckpt, p, D, plan, backend))
    run_sweep(ck, pset, [0.1, 0.3, 0.5], [1, 2], SearchConfig(K=2), out, progress=False)
    assert depths == [1, 2]  # once per depth, not once per cell
    run_sweep(ck, pset, [0.7], [1, 2], SearchConfig(K=2), out, progress=False)  # the grid grows later
    assert depths == [1, 2]  # the stored runs are read
    for D in (1, 2):
        stored = load_run(out / "deterministic" / f"D={D}")  # a run like any other: one rollout, no noise
        assert (stored.manifest["search"]["K"], stored.manifest["search"]["sigma"], len(stored.records)) == (1, 0, 6)
        assert np.stack(stored.records.correct_steps).shape == (6, D)
        alone = run_search(ck, pset, SearchConfig(K=2, sigma=0.3, D=D), progress=False).manifest["deterministic"]
        for sigma in (0.1, 0.3, 0.5, 0.7):
            shared = load_run(out / f"sigma={sigma}_D={D}").manifest["deterministic"]
            assert shared["exact_accuracy"] == alone["exact_accuracy"] and shared["ci"] == list(alone["ci"])
    with pytest.raises(PtrmError, match="deterministic run of another checkpoint, puzzles or dtype"):
        stored_baseline(ck, puzzles.head(5), 1, SearchConfig(), out)


def test_a_grown_grid_runs_only_the_new_cells(finished, tiny_ckpt, puzzles, tmp_path):
    out = tmp_path / "grown"
    ck = load_checkpoint(tiny_ckpt)
    cfg = SearchConfig(K=4)
    run_sweep(ck, puzzles.head(6), [0.3], [1], cfg, out, progress=False)
    first = (out / "sigma=0.3_D=1" / "manifest.json").read_bytes()
    table = run_sweep(ck, puzzles.head(6), [0.3, 0.5], [1], cfg, out, progress=False)
    assert (out / "sigma=0.3_D=1" / "manifest.json").read_bytes() == first
    assert list(table.sigma) == [0.3, 0.5]
    assert json.loads((out / "sweep.json").read_text())["grid"]["sigmas"] == [0.3, 0.5]


def test_kill_9_then_rerun_finishes_the_grid_with_the_same_records(finished, tiny_ckpt, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "sweep", "--ckpt", str(tiny_ckpt),
           "--out", str(out), *GRID]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/manifest.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed, not finished on its own
    done = sorted(p.parent.name for p in out.glob("*/manifest.json"))
    assert 1 <= len(done) < len(CELLS) and not (out / "summary.csv").exists()

    res = sweep(tiny_ckpt, out)
    assert res.exit_code == 0, res.output
    assert f"{len(done)} finished earlier" in res.output
    for cell in CELLS:
        resumed, reference = load_run(out / cell).records, load_run(finished / cell).records
        assert not resumed.duplicated(["puzzle", "k"]).any()
        pd.testing.assert_frame_equal(resumed, reference)
    assert len(pd.read_csv(out / "summary.csv")) == len(CELLS)


def test_the_head_of_a_run_is_the_smaller_run(finished, tiny_ckpt, puzzles):
    """Fewer puzzles and rollouts come free from a bigger run: a rollout's noise depends only on (puzzle, k)."""
    big = load_run(finished / "sigma=0.3_D=2")
    small = head(big, 3, 2)
    alone = run_search(load_checkpoint(tiny_ckpt), puzzles.head(3), SearchConfig(K=2, sigma=0.3, D=2),
                       progress=False, deterministic=False)
    pd.testing.assert_frame_equal(small.records, alone.records)
    assert small.manifest["flops_total"] == pytest.approx(alone.manifest["flops_total"])
    assert (small.manifest["data"]["n_puzzles"], small.manifest["search"]["K"]) == (3, 2)
    assert "deterministic" not in small.manifest  # it was measured on all six puzzles


def test_a_per_step_run_read_at_a_smaller_depth_costs_that_depth(tiny_ckpt, puzzles):
    ck, cfg = load_checkpoint(tiny_ckpt), SearchConfig(K=2, sigma=0.3, D=4, per_step=True)
    deep = run_search(ck, puzzles.head(3), cfg, progress=False, deterministic=False)
    shallow = run_search(ck, puzzles.head(3), SearchConfig(K=2, sigma=0.3, D=1, per_step=True), progress=False,
                         deterministic=False)
    read = read_at_depth(deep, 1)
    assert read.manifest["search"]["D"] == 1 and (read.records.steps == 1).all()
    assert read.manifest["flops_total"] == pytest.approx(shallow.manifest["flops_total"])
    pd.testing.assert_series_equal(read.records.answer_hash, shallow.records.answer_hash)


class DiesAfter(LocalBackend):
    """A backend whose process dies (as at a session's end) after `n` work items; counts what it ran."""

    def __init__(self, model, n=None):
        super().__init__(model)
        self.n, self.ran = n, 0

    def map(self, pset, items, cfg, plan):
        for records in super().map(pset, items, cfg, plan):
            if self.ran == self.n:
                raise KeyboardInterrupt
            self.ran += 1
            yield records


def test_a_search_cut_short_keeps_its_finished_items_and_resumes_from_them(finished, tiny_ckpt, puzzles, tmp_path):
    ck, parts = load_checkpoint(tiny_ckpt), tmp_path / "parts"
    cfg = SearchConfig(K=4, sigma=0.3, D=2, chunk_size=4)  # 6 puzzles x 4 rollouts: 6 items of one puzzle each
    with pytest.raises(KeyboardInterrupt):
        run_search(ck, puzzles.head(6), cfg, backend=DiesAfter(ck.model, 2), progress=False, parts=parts)
    assert len(list(parts.glob("*.parquet"))) == 2

    rest = DiesAfter(ck.model)
    run = run_search(ck, puzzles.head(6), cfg, backend=rest, progress=False, parts=parts)
    # 4 items left, then the deterministic baseline's 2 (6 puzzles x 1 rollout), which runs on the same backend
    assert rest.ran == 4 + 2 and run.manifest["resumed_items"] == 2
    # `finished` ran the 6 puzzles in one batch, these in 6
    assert_same_records_across_batches(run.records, load_run(finished / "sigma=0.3_D=2").records)


@pytest.fixture
def other_ckpt(tmp_path, puzzles):
    """Same architecture and puzzles as tiny_ckpt, other weights."""
    torch.manual_seed(1)
    path = tmp_path / "other.pt"
    save_checkpoint(path, TRM(tiny_config()), task="sudoku", test_set=pack_test_set(puzzles), metrics={})
    return path


@pytest.mark.parametrize("case, message", [
    ("other checkpoint", "a sweep made by another checkpoint"),
    ("other K", "a sweep with other settings (K 4 there, 8 now)"),
    ("other puzzles", "a sweep with other settings (n_puzzles 6 there, 5 now)"),
    ("other stopping rule", "a sweep with other settings (halt_q None there, -2.0 now)"),
    ("empty grid", "empty grid"),
])
def test_a_mismatched_sweep_is_a_one_line_error_and_nothing_is_overwritten(finished, tiny_ckpt, other_ckpt,
                                                                             case, message):
    ckpt, extra = {"other checkpoint": (other_ckpt, []), "other K": (tiny_ckpt, ["--samples", "8"]),
                   "other puzzles": (tiny_ckpt, ["--limit", "5"]),
                   "other stopping rule": (tiny_ckpt, ["--halt-q", "-2"]),
                   "empty grid": (tiny_ckpt, ["--sigmas", ""])}[case]
    before = folder_state(finished)
    res = sweep(ckpt, finished, *extra)
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert folder_state(finished) == before


def test_a_folder_that_is_not_a_sweep_is_refused(tiny_ckpt, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = sweep(tiny_ckpt, tmp_path)
    assert res.exit_code == 2 and "holds no sweep.json" in res.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    res = sweep(tiny_ckpt, tmp_path / "new", "--resume")
    assert res.exit_code == 2 and "holds no sweep to resume" in res.output
