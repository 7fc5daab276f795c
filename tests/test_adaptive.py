"""Adaptive compute: rollouts that stop early (halt_q, settle), puzzles that stop early (stop_q), their FLOPs,
and replaying the rules on a fixed-D run. Every rule is checked against a fixed-D run's per-step records:
a rollout's trajectory does not depend on when it stops, so the adaptive record is the fixed run's at its stop.
"""
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm import metrics, report, rules
from ptrm.adaptive import at_depth, best_step, replay_adaptive
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.plan import ExecutionPlan
from ptrm.runner import SearchRun, run_search
from ptrm.search import SearchConfig, WorkItem, run_work_item, sort_records, work_items
from ptrm.store import load_run, save_run

SETTINGS = dict(K=4, sigma=0.3, D=6, dtype="float32")  # fp32: records never depend on the batch's shape
FP32 = ExecutionPlan.resolve("cpu", "float32")  # how the work items here run: fp32 on the CPU


class Spy:
    """A TRM that records how many rollouts each step runs. With one_bit, every cell shows the same binary
    choice (token 0 or 1, read from cell 0): answers that settle, as a trained model's do and the tiny random
    model's do not."""

    def __init__(self, model, one_bit=False):
        self.model, self.one_bit, self.batch_sizes = model, one_bit, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, carry, x):
        carry, logits, q = self.model.step(carry, x)
        self.batch_sizes.append(len(x))
        if self.one_bit:
            bit = logits[:, :1, :2]
            logits = torch.zeros_like(logits)
            logits[..., :2] = bit
        return carry, logits, q


@pytest.fixture(scope="module")
def ck(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


def rollouts(model, pset, **kw) -> pd.DataFrame:
    """The records of a search, without the manifest: every work item through run_work_item."""
    cfg = SearchConfig(**{**SETTINGS, **kw})
    items = work_items(len(pset), cfg.K, FP32.chunk_size, whole_puzzles=cfg.stop_q is not None)
    return sort_records(pd.concat([run_work_item(model, pset, it, cfg, FP32) for it in items], ignore_index=True))


def at_step(fixed: pd.DataFrame, stop: np.ndarray) -> dict:
    """The fixed run's per-step values at step `stop` (0-based) of each rollout."""
    rows = np.arange(len(fixed))
    return {"steps": stop + 1, "q_halt": np.stack(fixed.q_steps)[rows, stop].astype(np.float64),
            "correct": np.stack(fixed.correct_steps)[rows, stop], "answer_hash": np.stack(fixed.hash_steps)[rows, stop]}


def assert_close(column: str, actual, expected):
    """Answers, correctness and steps exactly; q up to fp32 rounding: stopped rollouts shrink the batch, and
    on some CPUs (MKL, AVX-512) a batch of under 16 rollouts rounds differently from a larger one."""
    if column.startswith("q_"):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5, err_msg=column)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=column)


def assert_same_records(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a.columns) == list(b.columns)
    for column in a.columns:
        assert_close(column, *(np.stack(r[column].to_numpy()) for r in (a, b)))


def assert_stopped_as(adaptive: pd.DataFrame, expected: dict):
    for column, values in expected.items():
        assert_close(column, adaptive[column].to_numpy(), values)


def first(condition: np.ndarray) -> np.ndarray:
    """Per row, the first step where condition holds, else the last step."""
    return np.where(condition.any(1), condition.argmax(1), condition.shape[1] - 1)


def test_fixed_D_is_the_default_every_rollout_runs_D_steps(ck, puzzles):
    assert not SearchConfig().adaptive
    run = run_search(ck, puzzles, SearchConfig(K=3, sigma=0.3, D=4, dtype="float32"), progress=False,
                     deterministic=False)
    assert (run.records.steps == 4).all()
    assert run.manifest["rollout_steps"] == 12 * 3 * 4
    assert run.manifest["flops_total"] == metrics.flops_per_puzzle(ck.cfg, D=4, K=3) * 12  # the paper's count


def test_halt_q_stops_a_rollout_at_its_first_confident_step_and_keeps_that_answer(ck, puzzles):
    fixed = rollouts(ck.model, puzzles, per_step=True)
    adaptive = rollouts(ck.model, puzzles, per_step=True, halt_q=-2.0)
    stop = first(np.stack(fixed.q_steps) >= -2.0)
    assert 0 < (stop < 5).mean() < 1  # some rollouts stop early, others run all D = 6 steps
    assert_stopped_as(adaptive, at_step(fixed, stop))
    # after the stop, the per-step arrays repeat the stop step's values
    upto = np.minimum(np.arange(6), stop[:, None])
    assert_close("q_steps", np.stack(adaptive.q_steps), np.take_along_axis(np.stack(fixed.q_steps), upto, 1))


def test_give_up_q_stops_a_rollout_confident_it_is_wrong_from_give_up_step_on(ck, puzzles):
    fixed = rollouts(ck.model, puzzles, per_step=True)
    q = np.stack(fixed.q_steps)
    threshold = float(np.quantile(q[:, 2:], 0.1))  # a q only the lowest rollouts reach
    adaptive = rollouts(ck.model, puzzles, per_step=True, give_up_q=threshold, give_up_step=3)
    low = q <= threshold
    low[:, :2] = False  # steps 1 and 2 come before give_up_step
    stop = first(low)
    assert 0 < (stop < 5).mean() < 1
    assert (stop >= 2).all()
    assert_stopped_as(adaptive, at_step(fixed, stop))
    assert_same_records(replay_adaptive(fixed, give_up_q=threshold, give_up_step=3).drop(columns="cell_acc"),
                        adaptive.drop(columns="cell_acc"))


def test_settle_stops_a_rollout_once_its_answer_is_unchanged_for_settle_steps(ck, puzzles):
    model = Spy(ck.model, one_bit=True)
    fixed = rollouts(model, puzzles, per_step=True)
    adaptive = rollouts(model, puzzles, per_step=True, settle=2)
    h = np.stack(fixed.hash_steps)
    settled = np.zeros_like(h, dtype=bool)
    settled[:, 2:] = (h[:, 2:] == h[:, 1:-1]) & (h[:, 1:-1] == h[:, :-2])  # same answer at t-2, t-1 and t
    stop = first(settled)
    assert 0 < (stop < 5).mean() < 1
    assert_stopped_as(adaptive, at_step(fixed, stop))


def test_stop_q_stops_all_rollouts_of_a_puzzle_once_one_is_confident(ck, puzzles):
    fixed = rollouts(ck.model, puzzles, per_step=True)
    adaptive = rollouts(ck.model, puzzles, per_step=True, stop_q=-1.0)
    confident = (np.stack(fixed.q_steps) >= -1.0).reshape(12, 4, 6).any(1)  # [puzzle, step]: any rollout
    stop = np.repeat(first(confident), 4)
    assert 0 < (stop < 5).mean() < 1
    assert_stopped_as(adaptive, at_step(fixed, stop))
    assert (adaptive.groupby("puzzle").steps.nunique() == 1).all()


def test_stopped_rollouts_leave_the_batch(ck, puzzles):
    model = Spy(ck.model)
    records = run_work_item(model, puzzles, WorkItem(0, 12, 0, 4), SearchConfig(**SETTINGS, halt_q=-3.0), FP32)
    sizes = model.batch_sizes
    assert sizes[0] == 48 and sizes[-1] < 48 and sizes == sorted(sizes, reverse=True)
    assert sum(sizes) == records.steps.sum()  # each rollout is in the batch exactly for the steps it ran


def test_flops_are_counted_from_the_steps_each_rollout_ran(ck, puzzles, tmp_path):
    run = run_search(ck, puzzles, SearchConfig(**SETTINGS, halt_q=-2.0), progress=False, deterministic=False)
    steps = int(run.records.steps.sum())
    assert steps < 12 * 4 * 6 and run.manifest["rollout_steps"] == steps
    assert run.manifest["flops_total"] == metrics.flops_per_step(ck.cfg) * steps
    cost = report.compute_per_puzzle(run)
    assert cost["steps"] == steps / 12 and cost["flops"] == run.manifest["flops_total"] / 12
    # a run saved before adaptive compute has no `steps` column (nor `verified`): it ran D steps per rollout
    old = SearchRun(run.records.drop(columns=["steps", "verified"]), run.manifest)
    loaded = load_run(save_run(old, tmp_path / "old"))
    assert report.compute_per_puzzle(loaded)["steps"] == 4 * 6
    assert len(report.rule_table(loaded)) == 4


@pytest.mark.parametrize("rules", [dict(halt_q=-2.5, settle=2), dict(stop_q=-1.0, settle=3),
                                   dict(halt_q=-2.0, stop_q=-1.0, settle=2)])
def test_records_do_not_depend_on_chunk_size_with_stopping_rules(ck, puzzles, rules):
    model = Spy(ck.model, one_bit=True)
    small = rollouts(model, puzzles, chunk_size=3, **rules)
    large = rollouts(model, puzzles, chunk_size=50, **rules)
    assert_same_records(small, large)
    assert small.steps.nunique() > 1


def test_whole_puzzle_items_for_stop_q():
    items = work_items(n_puzzles=7, K=5, chunk_size=12, whole_puzzles=True)
    assert all((it.k0, it.k1) == (0, 5) and it.size <= 12 for it in items)
    assert [it.p1 - it.p0 for it in work_items(3, K=5, chunk_size=2, whole_puzzles=True)] == [1, 1, 1]


def test_stop_q_refuses_an_item_with_part_of_a_puzzle(ck, puzzles):
    with pytest.raises(PtrmError, match="stop_q needs all K=4 rollouts"):
        run_work_item(ck.model, puzzles, WorkItem(0, 1, 0, 2), SearchConfig(**SETTINGS, stop_q=0.0), FP32)


@pytest.mark.parametrize("one_bit, rules", [(False, dict(halt_q=-2.0)), (False, dict(stop_q=-1.0)),
                                            (True, dict(settle=2)), (True, dict(halt_q=-2.5, stop_q=-1.0, settle=2))])
def test_replay_of_a_fixed_run_gives_the_adaptive_run(ck, puzzles, one_bit, rules):
    """Thresholds can be chosen on a fixed-D per-step run: the replay gives the adaptive run's records."""
    model = Spy(ck.model, one_bit=one_bit)
    fixed = rollouts(model, puzzles, per_step=True)
    replayed = replay_adaptive(fixed, **rules)
    adaptive = rollouts(model, puzzles, per_step=True, **rules)
    assert adaptive.steps.nunique() > 1
    assert replayed.cell_acc.isna().all()  # not recorded per step
    assert_same_records(replayed.drop(columns="cell_acc"), adaptive.drop(columns="cell_acc"))


def test_replay_needs_per_step_records(ck, puzzles):
    with pytest.raises(PtrmError, match="--per-step"):
        replay_adaptive(rollouts(ck.model, puzzles.head(2)), halt_q=0.0)


def test_best_step_returns_each_rollouts_most_confident_step(ck, puzzles):
    """The (rollout, step) selector: a rollout offers the answer of its highest-q_halt step, so best-Q over
    best_step's records is best-Q over every (k, t) pair, and never trails best-Q over final steps in Q."""
    fixed = rollouts(ck.model, puzzles, per_step=True)
    picked = best_step(fixed)
    q = np.stack(fixed.q_steps)
    chosen = q.argmax(1)
    assert (chosen < q.shape[1] - 1).any()  # some rollout was most confident before its last step
    assert_stopped_as(picked, {k: v for k, v in at_step(fixed, chosen).items() if k != "steps"})
    np.testing.assert_array_equal(picked.chosen_step, chosen + 1)
    np.testing.assert_array_equal(picked.steps, fixed.steps)  # compute is what the rollouts ran
    top = picked.groupby("puzzle").q_halt.max().to_numpy()
    assert (top >= fixed.groupby("puzzle").q_halt.max().to_numpy()).all()
    # By hand: per puzzle, the most confident of all its (k, t) pairs, and whether that answer is right.
    K, D = SETTINGS["K"], q.shape[1]
    pairs = q.reshape(-1, K * D).argmax(1)
    right = np.stack(fixed.correct_steps).reshape(-1, K * D)[np.arange(len(pairs)), pairs]
    np.testing.assert_array_equal(rules.select(picked, "best_q").correct, right)


def test_a_deep_run_holds_every_shallower_run(ck, puzzles):
    """Depth comes free: the first D steps of a D=6 run are a D=3 run (the noise of a step does not depend on
    how many follow), so one deep run gives the depth axis of depth-vs-width."""
    deep = rollouts(ck.model, puzzles, per_step=True)
    shallow = rollouts(ck.model, puzzles, per_step=True, D=3)
    assert_same_records(at_depth(deep, 3).drop(columns="cell_acc"), shallow.drop(columns="cell_acc"))
    with pytest.raises(PtrmError, match="depth 7 is not within the run's 1..6 steps"):
        at_depth(deep, 7)


@pytest.mark.parametrize("args, message", [
    (["--halt-q", "nan"], "--halt-q must be a finite number"),
    (["--stop-q", "inf"], "--stop-q must be a finite number"),
    (["--settle", "-1"], "--settle must be >= 0"),
])
def test_bad_stopping_rules_are_one_line_errors(tiny_ckpt, args, message):
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), *args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_cli_search_with_stopping_rules(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--samples", "4", "--sigma", "0.3",
                                    "--dtype", "float32", "--halt-q", "-2", "--settle", "3", "--stop-q", "-1",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "steps per rollout" in res.output
    run = load_run(out)
    assert (run.manifest["search"]["halt_q"], run.manifest["search"]["settle"], run.manifest["search"]["stop_q"]) \
        == (-2.0, 3, -1.0)
    assert run.manifest["rollout_steps"] == run.records.steps.sum() < 12 * 4 * run.manifest["search"]["D"]
    for flag in ("--halt-q", "--settle", "--stop-q"):
        assert flag in CliRunner().invoke(main, ["sweep", "--help"]).output
