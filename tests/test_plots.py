"""Figures: every figure is drawn from small real records, written atomically, and a folder with
nothing to plot is a one-line error."""
from dataclasses import replace

import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm import plots
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.basin import basin_states
from ptrm.runner import run_search
from ptrm.search import SearchConfig
from ptrm.store import load_run, save_run

CFG = SearchConfig(K=4, sigma=0.3, D=2, per_step=True)


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


@pytest.fixture(scope="module")
def run_dir(ckpt, puzzles, tmp_path_factory):
    run = run_search(ckpt, puzzles.head(6), CFG, progress=False)
    return save_run(run, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def sweep_dir(ckpt, puzzles, tmp_path_factory):
    """A 2 x 2 grid (sigma x D), laid out as any sweep: one run folder per cell."""
    root = tmp_path_factory.mktemp("sweep")
    for sigma in (0.0, 0.5):
        for D in (1, 2):
            cfg = replace(CFG, sigma=sigma, D=D, per_step=False)
            run = run_search(ckpt, puzzles.head(4), cfg, progress=False, deterministic=sigma == 0)
            save_run(run, root / f"sigma={sigma}_D={D}")
    (root / "sigma=1.0_D=2").mkdir()  # an unfinished cell: skipped
    return root


def assert_image(path, magic):
    assert path.is_file() and path.read_bytes().startswith(magic)
    assert not list(path.parent.glob(".*.tmp")), "a temp file was left behind"


def test_run_folder_gives_width_scaling_and_q_tracking(run_dir):
    paths = plots.plot_folder(run_dir)
    assert [p.name for p in paths] == ["width_scaling.png", "q_tracking.png"]
    assert all(p.parent == run_dir / "plots" for p in paths)
    for p in paths:
        assert_image(p, b"\x89PNG")


def test_sweep_folder_gives_sigma_sweep_and_depth_vs_width(sweep_dir, tmp_path):
    paths = plots.plot_folder(sweep_dir, fmt="svg", out=tmp_path)
    assert [p.name for p in paths] == ["sigma_sweep.svg", "depth_vs_width.svg"]
    for p in paths:
        assert_image(p, b"<?xml")


def test_basin_escape_from_the_model(ckpt, puzzles, tmp_path):
    cfg, puzzles = SearchConfig(K=5, sigma=0.3, D=1), puzzles.head(4)
    b = basin_states(ckpt, puzzles, cfg, max_tries=2)
    assert not b.det_correct and b.states.shape == (5, ckpt.cfg.hidden_size)
    # the basin's rollouts are exactly the search's rollouts of that puzzle
    rec = run_search(ckpt, puzzles, cfg, progress=False, deterministic=False).records
    pd.testing.assert_frame_equal(b.records.reset_index(drop=True),
                                  rec[rec.puzzle == b.puzzle].reset_index(drop=True))
    assert_image(plots.basin_figure(b, tmp_path / "basin.pdf"), b"%PDF")
    with pytest.raises(PtrmError, match="outside"):
        basin_states(ckpt, puzzles, cfg, puzzle=len(puzzles))


def test_nothing_to_plot_is_an_error(tmp_path, run_dir):
    with pytest.raises(PtrmError, match="no finished runs"):
        plots.plot_folder(tmp_path)
    with pytest.raises(PtrmError, match="not a folder"):
        plots.plot_folder(tmp_path / "missing")
    run = load_run(run_dir)
    with pytest.raises(PtrmError, match="--per-step"):
        plots.q_tracking(replace(run, records=run.records.drop(columns=["q_steps"])), tmp_path / "q.png")
    with pytest.raises(PtrmError, match="two or more sigmas"):
        plots.sigma_sweep([run], tmp_path / "s.png")


def test_a_sweep_mixing_settings_is_an_error(run_dir, tmp_path):
    run = load_run(run_dir)
    save_run(run, tmp_path / "a")
    other = dict(run.manifest, search={**run.manifest["search"], "seed": 1, "sigma": 0.9})
    save_run(replace(run, manifest=other), tmp_path / "b")
    with pytest.raises(PtrmError, match="differ in seed"):
        plots.plot_folder(tmp_path)


def test_cli(run_dir, tmp_path):
    res = CliRunner().invoke(main, ["plot", str(run_dir), "--format", "pdf", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert_image(tmp_path / "p" / "width_scaling.pdf", b"%PDF")
    res = CliRunner().invoke(main, ["plot", str(tmp_path / "p")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "nothing to plot" in res.output


def test_training_progress_draws_each_sigma_against_training_steps(tmp_path):
    """experiments/progress.py's table: one row per (checkpoint, sigma)."""
    rows = [{"step": step, "n": 500, "K": 64, "sigma": sigma, "deterministic": det, "best-Q": det + gain,
             "pass": det + gain + 2, "failures some rollout solves": 40.0, "error closed by best-Q": 30.0,
             **{f"{name} ci_{side}": det + gain + delta for name in ("best-Q", "pass")
                for side, delta in (("low", -4), ("high", 4))}}
            for step, det in ((2500, 30.0), (5000, 45.0)) for sigma, gain in ((0.1, 5.0), (0.3, 9.0))]
    path = plots.training_progress(pd.DataFrame(rows), tmp_path / "progress.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError):  # a table without the rescued share is not a progress table
        plots.training_progress(pd.DataFrame(rows).drop(columns="failures some rollout solves"), tmp_path / "x.png")
