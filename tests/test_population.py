"""Population search (ptrm.population): particles resampled by Q between steps, with their lineage."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm import population
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.runner import run_search
from ptrm.plan import ExecutionPlan
from ptrm.search import SearchConfig, WorkItem, run_work_item
from conftest import assert_same_records_across_batches


def search(ckpt_path, puzzles, **kw):
    ck = load_checkpoint(ckpt_path)
    cfg = SearchConfig(mode="population", dtype="float32", **{"K": 6, "sigma": 0.5, **kw})
    return run_search(ck, puzzles, cfg, progress=False, deterministic=False)


def test_systematic_and_residual_resampling_keep_the_expected_copies():
    weights = np.array([0.5, 0.25, 0.125, 0.125])
    # systematic: positions (u + j) / 4 = .025, .275, .525, .775 on the cumulative weights .5, .75, .875, 1
    np.testing.assert_array_equal(population.resample(weights, 0.1, "systematic"), [0, 0, 1, 2])
    # residual: floor(4w) = 2, 1, 0, 0 copies fixed; the one left drawn from residual weights 0, 0, .5, .5
    np.testing.assert_array_equal(population.resample(weights, 0.1, "residual"), [0, 0, 1, 2])
    np.testing.assert_array_equal(population.resample(weights, 0.9, "residual"), [0, 0, 1, 3])
    counts = np.mean([np.bincount(population.resample(weights, u, "systematic"), minlength=4)
                      for u in np.linspace(0.001, 0.999, 999)], axis=0)
    np.testing.assert_allclose(counts, 4 * weights, atol=0.01)  # unbiased: K * w copies on average


def test_population_records_do_not_depend_on_chunk_size(tiny_ckpt, puzzles):
    small = search(tiny_ckpt, puzzles, chunk_size=6, per_step=True).records     # one puzzle per item
    large = search(tiny_ckpt, puzzles, chunk_size=50, per_step=True).records
    assert_same_records_across_batches(small, large)
    parents = np.stack(small.parents.to_numpy())
    assert parents.shape == (12 * 6, 4)
    np.testing.assert_array_equal(parents[:, 0], small.k)       # step 1: every particle is its own
    assert (parents[:, 1:] != small.k.to_numpy()[:, None]).any()  # later, the Q head moved particles


def test_resampling_follows_q_and_the_lineage_replays_the_q_history(tiny_ckpt, puzzles):
    run = search(tiny_ckpt, puzzles, K=8, per_step=True, temperature=0.05)
    for p, g in run.records.groupby("puzzle"):
        parents, q = np.stack(g.parents.to_numpy()), np.stack(g.q_steps.to_numpy())
        lineage = population.ancestry(parents)   # (j, t): the slot of particle j's ancestor after step t+1
        assert (lineage[:, -1] == np.arange(8)).all()
        # a particle's per-step history is its ancestry's: particles with one ancestor at a step share its q there
        for t in range(q.shape[1]):
            for ancestor in np.unique(lineage[:, t]):
                assert np.unique(q[lineage[:, t] == ancestor, t]).size == 1
        assert (lineage[:, 0] == lineage[0, 0]).all()  # at temperature 0.05 one particle of step 1 wins the lot


def test_weights_are_a_softmax_of_q_over_the_running_particles():
    cfg = SearchConfig(K=4, mode="population", temperature=1.0)
    resampler = population.Resampler(cfg, np.array([3, 3, 3, 3]), np.arange(4), D=3)
    running = np.array([0, 1, 3])                     # particle 2 stopped: it keeps its place
    q = np.array([0.0, 20.0, 5.0, -20.0], dtype=np.float32)
    src, at = resampler.resample(1, running, q)
    np.testing.assert_array_equal(src, [1, 1, 1])     # softmax(0, 20, -20) is all but one-hot on particle 1
    np.testing.assert_array_equal(at, [1, 1, 1])      # its position among the running rows
    np.testing.assert_array_equal(resampler.parents[:, 1], [1, 1, 2, 1])


def test_stopped_particles_keep_their_place(tiny_ckpt, puzzles):
    run = search(tiny_ckpt, puzzles, K=6, halt_q=-0.5)
    parents, steps = np.stack(run.records.parents.to_numpy()), run.records.steps.to_numpy()
    assert (steps < 4).any()
    for row, stopped_after in enumerate(steps):  # after its last step a particle is never moved
        assert (parents[row, stopped_after:] == run.records.k[row]).all()


def test_at_a_very_high_temperature_the_population_is_the_independent_run(tiny_ckpt, puzzles):
    """Equal weights: systematic resampling gives every particle one copy, in its own slot."""
    ck = load_checkpoint(tiny_ckpt)
    independent = run_search(ck, puzzles, SearchConfig(K=6, sigma=0.5, dtype="float32"), progress=False,
                             deterministic=False).records
    pop = search(tiny_ckpt, puzzles, temperature=1e6).records
    assert (np.stack(pop.parents.to_numpy()) == pop.k.to_numpy()[:, None]).all()
    pd.testing.assert_frame_equal(pop.drop(columns="parents"), independent)
    assert not search(tiny_ckpt, puzzles, temperature=1.0).records.q_halt.equals(independent.q_halt)


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "0"], "--temperature must be > 0"),
    (["--temperature", "-1"], "--temperature must be > 0"),
    (["--resampling", "multinomial"], "'multinomial' is not one of"),
    (["--budget", "100"], "--budget applies to --mode waves only"),
])
def test_bad_population_options_are_one_line_exit_2(tiny_ckpt, tmp_path, flags, message):
    result = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--mode", "population", "-K", "4",
                                       "--out", str(tmp_path / "run"), *flags])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_population_search_from_the_command_line_prints_the_diagnostics(tiny_ckpt, tmp_path):
    result = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--mode", "population", "-K", "4",
                                       "--sigma", "0.3", "--dtype", "float32", "--limit", "3",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "best-Q@4" in result.output and "| stability |" in result.output
    assert "parents" in pd.read_parquet(tmp_path / "run" / "records.parquet").columns


def test_population_needs_whole_puzzles_in_an_item(tiny_ckpt, puzzles):
    with pytest.raises(PtrmError, match="population search needs all K=6"):
        run_work_item(load_checkpoint(tiny_ckpt).model, puzzles, WorkItem(0, 1, 0, 3),
                      SearchConfig(K=6, mode="population"), ExecutionPlan.resolve("cpu", "float32"))
