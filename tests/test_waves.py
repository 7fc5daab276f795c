"""Adaptive width (ptrm.waves): waves of K0 rollouts where Q says a puzzle is unsolved, within a rollout-step budget."""
import logging

import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm import waves
from ptrm.checkpoint import load_checkpoint
from ptrm.runner import run_search
from ptrm.search import SearchConfig
from ptrm.store import load_run
from conftest import assert_same_records_across_batches

D = 4  # the tiny checkpoint's N_sup


def search(ckpt_path, puzzles, **kw):
    cfg = SearchConfig(**{"sigma": 0.5, "dtype": "float32", **kw})
    return run_search(load_checkpoint(ckpt_path), puzzles, cfg, progress=False, deterministic=False)


@pytest.fixture(scope="module")
def independent(tiny_ckpt, puzzles):
    """K=12 independent rollouts: every rollout a waves run with cap 12 can ask for."""
    return search(tiny_ckpt, puzzles, K=12, chunk_size=24).records


def test_waves_are_the_independent_rollouts_of_the_same_index(tiny_ckpt, puzzles, independent):
    cfg = dict(mode="waves", K=12, k0=4, q_threshold=-2.5)
    run = search(tiny_ckpt, puzzles, **cfg, chunk_size=24)
    records = run.records
    # only puzzles whose best Q is still below the threshold get another wave
    per_puzzle = records.groupby("puzzle").agg(n=("k", "size"), best=("q_halt", "max"), waves=("wave", "max"))
    assert set(per_puzzle.n) - {4, 8, 12} == set() and per_puzzle.n.nunique() > 1
    last_wave_best = records[records.k < per_puzzle.n.reindex(records.puzzle).to_numpy() - 4].groupby("puzzle").q_halt.max()
    assert (last_wave_best < -2.5).all()           # each later wave was asked for by a best Q below -2.5
    full = per_puzzle[per_puzzle.n < 12]
    assert (full.best >= -2.5).all()                # a puzzle stopped short of the cap had reached it
    # rollout k of a waves run is rollout k of an independent run: a waves run is a subset of its records
    pd.testing.assert_frame_equal(records.drop(columns="wave"),
                                  independent.merge(records[["puzzle", "k"]]).reset_index(drop=True))
    # and simulate() computes the waves run from the independent records alone, wave numbers included
    pd.testing.assert_frame_equal(waves.simulate(independent, SearchConfig(**cfg), D), records)
    assert run.manifest["rollout_steps"] == int(records.steps.sum())


@pytest.mark.parametrize("budget", [12 * 4 * D, 12 * 4 * D + 7, 12 * 4 * D + 5 * D, 10_000])
def test_the_budget_is_never_exceeded_and_used_while_it_pays_for_a_rollout(tiny_ckpt, puzzles, independent, budget):
    cfg = SearchConfig(mode="waves", K=12, k0=4, q_threshold=100.0, budget=budget)  # every puzzle wants more
    records = waves.simulate(independent, cfg, D)
    spent = int(records.steps.sum())
    assert spent <= budget
    assert budget - spent < D or len(records) == 12 * 12   # stops only when broke, or at the cap
    if budget == 12 * 4 * D + 5 * D:  # five rollouts more than one wave: to the five lowest best Q
        lowest = independent[independent.k < 4].groupby("puzzle").q_halt.max().nsmallest(1).index[0]
        assert (records.wave == 1).sum() == 4 + 1 and (records[records.puzzle == lowest].wave == 1).sum() == 4


def test_a_search_with_early_stops_spends_the_steps_they_leave_on_more_rollouts(tiny_ckpt, puzzles):
    budget = 12 * 4 * D + 2 * D
    run = search(tiny_ckpt, puzzles, mode="waves", K=12, k0=4, q_threshold=100.0, budget=budget, halt_q=-2.0)
    assert run.manifest["rollout_steps"] <= budget
    assert len(run.records) > 12 * 4 + 2   # rollouts that halted early paid for more than two extra rollouts


def test_waves_records_do_not_depend_on_chunk_size(tiny_ckpt, puzzles):
    kw = dict(mode="waves", K=12, k0=4, q_threshold=-2.5, budget=12 * 4 * D + 30 * D)
    small = search(tiny_ckpt, puzzles, chunk_size=3, **kw).records
    assert_same_records_across_batches(small, search(tiny_ckpt, puzzles, chunk_size=40, **kw).records)


@pytest.mark.parametrize("flags, message", [
    (["--mode", "waves", "-K", "4", "--k0", "8"], "--k0 must lie in 1..K=4"),
    (["--mode", "waves", "-K", "8", "--k0", "4", "--budget", "100"],
     "--budget 100 rollout-steps is below one wave: 12 puzzles x K0=4 x D=4 = 192"),
    (["--mode", "waves", "-K", "8", "--k0", "4", "--stop-q", "0"], "--stop-q cannot be used with --mode waves"),
    (["--mode", "sequential"], "'sequential' is not one of"),
])
def test_bad_waves_options_are_one_line_exit_2(tiny_ckpt, tmp_path, flags, message):
    result = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "run"), *flags])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "run").exists()


def test_waves_from_the_command_line(tiny_ckpt, tmp_path):
    result = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--mode", "waves", "-K", "8", "--k0", "2",
                                       "--q-threshold", "-2.5", "--sigma", "0.3", "--dtype", "float32",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "best-Q (adaptive width)" in result.output and "| entropy |" in result.output
    run = load_run(tmp_path / "run")
    assert run.manifest["search"]["mode"] == "waves" and "wave" in run.records.columns
    assert set(run.manifest["diagnostics"]["auroc"]) == {"pick_right", "search_helps"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--mode", "population"], ["--mode", "waves", "--k0", "2", "--q-threshold", "-2.5"]])
def test_two_ray_workers_give_the_local_records(tiny_ckpt, tmp_path, mode):
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        args = ["search", "--ckpt", str(tiny_ckpt), "-K", "8", "--sigma", "0.3", "--dtype", "float32", *mode]
        runs = {}
        for workers, chunk in (("1", "8"), ("2", "16")):
            out = tmp_path / workers
            result = CliRunner().invoke(main, [*args, "--workers", workers, "--chunk-size", chunk, "--out", str(out)])
            assert result.exit_code == 0, result.output
            runs[workers] = load_run(out)
        assert runs["2"].manifest["backend"]["name"] == "ray"
        pd.testing.assert_frame_equal(runs["1"].records, runs["2"].records)
    finally:
        ray.shutdown()
