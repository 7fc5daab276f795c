"""PTRM search: determinism, the sigma=0 baseline, records and the CLI."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm import hardware, noise
from ptrm.backends import LocalBackend
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.evaluate import StepOutputs, evaluate
from ptrm.plan import ExecutionPlan
from ptrm.puzzles import exact_and_cell
from ptrm.runner import run_search
from ptrm.search import SearchConfig, WorkItem, answer_hash, run_work_item, work_items
from ptrm.store import load_run
from conftest import assert_same_records_across_batches


FP32 = ExecutionPlan.resolve("cpu", "float32")  # how the work items here run: fp32 on the CPU


def search(ckpt_path, puzzles, dtype="float32", **kw):
    """fp32 unless asked: the exact path, whose records never depend on the chunk size (on any CPU)."""
    ck = load_checkpoint(ckpt_path)
    return run_search(ck, puzzles, SearchConfig(dtype=dtype, **kw), progress=False, deterministic=False)


def test_records_do_not_depend_on_chunk_size(tiny_ckpt, puzzles):
    small = search(tiny_ckpt, puzzles, K=6, sigma=0.5, chunk_size=4).records
    large = search(tiny_ckpt, puzzles, K=6, sigma=0.5, chunk_size=50).records
    pd.testing.assert_frame_equal(small, large)
    assert len(small) == 12 * 6
    # the noise does something: rollouts of one puzzle disagree somewhere
    assert small.groupby("puzzle").q_halt.nunique().max() > 1


def test_the_default_chunk_size_follows_the_device_and_the_manifest_names_it(tiny_ckpt, puzzles):
    assert ExecutionPlan.resolve("cpu").chunk_size == 64  # small batches stay in a CPU's cache; a GPU gets
    assert ExecutionPlan.resolve("cuda", "float32").chunk_size == 8192  # large ones: small ones wait on launches
    assert ExecutionPlan.resolve("cuda", "float32", chunk_size=100).chunk_size == 100
    assert search(tiny_ckpt, puzzles, K=2, sigma=0.1).manifest["search"]["chunk_size"] == 64


def test_a_subset_of_puzzles_or_rollouts_reproduces_the_same_rows(tiny_ckpt, puzzles):
    full = search(tiny_ckpt, puzzles, K=4, sigma=0.3).records
    fewer_k = search(tiny_ckpt, puzzles, K=2, sigma=0.3).records
    pd.testing.assert_frame_equal(full[full.k < 2].reset_index(drop=True), fewer_k)


@torch.inference_mode()
def test_noise_is_added_to_zL_before_each_step(tiny_ckpt, puzzles):
    """Algorithm 1 by hand for puzzle 5, rollouts k = 0, 1: before supervision step t, add
    sigma * gaussian(seed, puzzle, k, step=t, stream) to zL (noise on z, stream 0) or zH (on y, stream 1)."""
    model = load_checkpoint(tiny_ckpt).model
    cfg = SearchConfig(K=2, sigma=0.5, D=3, seed=7, dtype="float32")
    rows = [5, 5]
    p, ks = torch.tensor(rows), torch.tensor([0, 1])
    x = model.input_embeddings(torch.from_numpy(puzzles.inputs[rows]),
                               torch.from_numpy(puzzles.puzzle_identifiers[rows]), torch.float32)

    def by_hand(noise_on):
        zH, zL = model.initial_carry(len(rows))
        for t in range(cfg.D):
            if noise_on == "z":
                zL = zL + cfg.sigma * noise.gaussian(cfg.seed, p, ks, step=t, stream=0, shape=zL.shape[1:])
            else:
                zH = zH + cfg.sigma * noise.gaussian(cfg.seed, p, ks, step=t, stream=1, shape=zH.shape[1:])
            (zH, zL), logits, q = model.step((zH, zL), x)
        return q.numpy().astype(np.float64), answer_hash(logits.argmax(-1).numpy())

    for noise_on in ("z", "y"):
        rec = run_work_item(model, puzzles, WorkItem(5, 6, 0, 2), replace(cfg, noise_on=noise_on), FP32)
        q, hashes = by_hand(noise_on)
        np.testing.assert_array_equal(rec.q_halt.values, q)
        np.testing.assert_array_equal(rec.answer_hash.values, hashes)
    assert not np.array_equal(by_hand("z")[0], by_hand("y")[0])  # the target matters


def test_relative_sigma_scales_the_noise_by_each_tokens_rms(tiny_ckpt, puzzles):
    """--sigma-scale relative: before each step, zL += sigma * RMS(zL per token) * eps, the same eps as absolute."""
    model = load_checkpoint(tiny_ckpt).model
    cfg = SearchConfig(K=2, sigma=0.5, D=3, seed=7, dtype="float32", sigma_scale="relative")
    rows = [5, 5]
    p, ks = torch.tensor(rows), torch.tensor([0, 1])
    x = model.input_embeddings(torch.from_numpy(puzzles.inputs[rows]),
                               torch.from_numpy(puzzles.puzzle_identifiers[rows]), torch.float32)
    zH, zL = model.initial_carry(len(rows))
    for t in range(cfg.D):
        rms = zL.pow(2).mean(-1, keepdim=True).sqrt()  # (rollouts, tokens, 1)
        zL = zL + cfg.sigma * rms * noise.gaussian(cfg.seed, p, ks, step=t, stream=0, shape=zL.shape[1:])
        (zH, zL), logits, q = model.step((zH, zL), x)
    rec = run_work_item(model, puzzles, WorkItem(5, 6, 0, 2), cfg, FP32)
    np.testing.assert_allclose(rec.q_halt.values, q.detach().numpy(), rtol=1e-6)
    absolute = run_work_item(model, puzzles, WorkItem(5, 6, 0, 2), replace(cfg, sigma_scale="absolute"), FP32)
    assert not np.allclose(absolute.q_halt.values, rec.q_halt.values)  # the scale matters


def test_an_unknown_sigma_scale_is_refused():
    with pytest.raises(PtrmError, match="--sigma-scale"):
        SearchConfig(sigma_scale="log").validate()


def test_the_manifest_names_the_noise_generator(tiny_ckpt, puzzles):
    run = search(tiny_ckpt, puzzles.head(2), K=2, D=1)
    assert run.manifest["search"]["noise_generator"] == noise.GENERATOR == "ptrm-counter-v1"


def test_seed_changes_the_noise(tiny_ckpt, puzzles):
    a = search(tiny_ckpt, puzzles, K=3, sigma=0.5, seed=0).records
    b = search(tiny_ckpt, puzzles, K=3, sigma=0.5, seed=1).records
    assert not np.array_equal(a.q_halt.values, b.q_halt.values)


def test_the_execution_plan_is_resolved_once_per_run_and_handed_to_every_work_item(tiny_ckpt, puzzles, monkeypatch):
    calls, real = [], hardware.resolve_dtype
    monkeypatch.setattr(hardware, "resolve_dtype", lambda *a: calls.append(a) or real(*a))
    plans = []

    class Spy(LocalBackend):
        def map(self, pset, items, cfg, plan):
            plans.append(plan)
            yield from super().map(pset, items, cfg, plan)

    ck = load_checkpoint(tiny_ckpt)
    run = run_search(ck, puzzles, SearchConfig(K=4, sigma=0.3, D=2, chunk_size=4), backend=Spy(ck.model),
                     progress=False, deterministic=False)
    assert len(calls) == 1  # 12 work items, one resolution, at the runner
    assert len(plans) == 1 and plans[0].chunk_size == run.manifest["search"]["chunk_size"] == 4
    m = run.manifest["search"]
    assert (plans[0].dtype_name, plans[0].dtype_reason) == (m["dtype"], m["dtype_reason"])


def test_the_deterministic_eval_is_the_search_with_sigma_zero_and_one_rollout(tiny_ckpt, puzzles):
    ck = load_checkpoint(tiny_ckpt)
    rec = search(tiny_ckpt, puzzles, K=1, sigma=0.0, per_step=True).records
    ev = evaluate(ck.model, puzzles, FP32)
    pd.testing.assert_frame_equal(ev.records, rec)


def test_eval_figures_are_those_of_its_answers_at_every_step(tiny_ckpt, puzzles):
    """`figures` reads the records; the answers and q_halt each step gave (what --save-outputs writes) agree."""
    model = load_checkpoint(tiny_ckpt).model
    seen = StepOutputs(len(puzzles), 3)
    ev = evaluate(model, puzzles, ExecutionPlan.resolve("cpu", "float32", chunk_size=5), steps=3, outputs=seen)
    m = ev.metrics
    exact = (seen.preds == puzzles.labels).all(-1)  # [D, N]
    assert (m["n"], m["steps"], m["dtype"]) == (12, 3, "float32")
    assert m["exact_accuracy_per_step"] == list(exact.mean(1)) and m["exact_accuracy"] == exact[-1].mean()
    assert m["cell_accuracy"] == exact_and_cell(seen.preds[-1], puzzles.labels)[1].mean()
    np.testing.assert_array_equal(ev.records.q_halt, seen.q_halt[-1])  # what q_auroc and q_precision read
    np.testing.assert_array_equal(ev.records.answer_hash, answer_hash(seen.preds[-1]))


def test_per_step_records_end_at_the_final_values(tiny_ckpt, puzzles):
    rec = search(tiny_ckpt, puzzles, K=2, sigma=0.2, D=6, per_step=True).records
    steps = np.stack(rec.q_steps.values)
    assert steps.shape == (24, 6)
    np.testing.assert_allclose(steps[:, -1], rec.q_halt.values, rtol=1e-6)
    np.testing.assert_array_equal(np.stack(rec.correct_steps.values)[:, -1], rec.correct.values)


def test_work_items_cover_every_rollout_once():
    items = work_items(n_puzzles=7, K=5, chunk_size=3)
    cells = [(p, k) for it in items for p in range(it.p0, it.p1) for k in range(it.k0, it.k1)]
    assert sorted(cells) == [(p, k) for p in range(7) for k in range(5)]
    assert max(it.size for it in items) <= 3


@pytest.mark.parametrize("args, message", [
    (["--sigma", "-0.1"], "--sigma must be >= 0, got -0.1"),
    (["--sigma", "-1"], "--sigma must be >= 0, got -1.0"),
    (["--sigma", "inf"], "--sigma must be a finite number, got inf"),
    (["--sigma", "nan"], "--sigma must be a finite number, got nan"),
    (["--samples", "0"], "--samples must be >= 1, got 0"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--chunk-size", "0"], "--chunk-size must be >= 1, got 0"),
    (["--offset", "12"], "--offset must lie in 0..11 (the set has 12 puzzles), got 12"),
])
def test_bad_values_are_refused_before_any_work(tiny_ckpt, tmp_path, args, message):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--out", str(out), *args])
    assert res.exit_code == 2
    assert res.output.strip() == f"error: {message}"  # one line, no traceback, no progress bar
    assert not out.exists()


def test_a_run_with_non_finite_q_halt_is_not_saved(tiny_ckpt, tmp_path):
    ck = torch.load(tiny_ckpt, weights_only=True)
    ck["state_dict"]["q_head.weight"][:] = float("nan")  # diverged weights: every q_halt is NaN
    nan_ckpt = tmp_path / "nan.pt"
    torch.save(ck, nan_ckpt)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["search", "--ckpt", str(nan_ckpt), "--samples", "2", "--steps", "1",
                                    "--limit", "2", "--out", str(out)])
    assert res.exit_code == 2
    assert "nan.pt: search produced non-finite q_halt (nan) in 4 of 4 rollouts (first: puzzle 0, k 0); " \
           "nothing saved" in res.output
    assert not out.exists()  # no folder a tool could mistake for a result


def test_windows_of_puzzles_concatenate_to_the_whole_run(tiny_ckpt, puzzles):
    """Records' `puzzle` is the index in the whole set, and the noise follows it: two halves are the whole."""
    whole = search(tiny_ckpt, puzzles, K=3, sigma=0.3, D=2).records
    ck = load_checkpoint(tiny_ckpt)
    halves = [run_search(ck, puzzles, SearchConfig(K=3, sigma=0.3, D=2, dtype="float32"), progress=False,
                         deterministic=False, offset=offset, limit=6).records for offset in (0, 6)]
    assert halves[1].puzzle.min() == 6
    joined = pd.concat(halves, ignore_index=True)
    assert_same_records_across_batches(joined, whole)  # a window's batch is smaller than the whole's


def test_cli_search_writes_records_and_prints_the_table(tiny_ckpt, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--samples", "4", "--sigma", "0.2",
                                    "--limit", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("deterministic TRM", "best-Q@4", "mode@4", "pass@4"):
        assert name in res.output
    run = load_run(out)
    assert len(run.records) == 20 and run.manifest["search"]["K"] == 4
    assert run.manifest["checkpoint"]["sha256"] and run.manifest["flops_total"] > 0


def test_cli_solve_prints_a_grid_and_its_verdict(tiny_ckpt):
    puzzle = "..59......17....45.3....2......4879.4...9...6..6........132.......7....1.7.4.53.2"
    res = CliRunner().invoke(main, ["solve", "--ckpt", str(tiny_ckpt), "--samples", "3", puzzle])
    assert res.exit_code == 0, res.output
    assert "best of K=3 rollouts" in res.output
    # a random model does not solve Sudoku, and the verdict must say so rather than claim success
    assert "NOT a valid solution" in res.output


def test_cli_solve_rejects_a_malformed_puzzle(tiny_ckpt):
    res = CliRunner().invoke(main, ["solve", "--ckpt", str(tiny_ckpt), "12345"])
    assert res.exit_code == 2 and "81" in res.output


def test_bf16_records_do_not_depend_on_chunk_size_unless_items_are_tiny(tiny_ckpt, puzzles):
    """In bf16 the math library picks its matmul kernel by shape: on AMX CPUs a batch of only 1-3 rollouts
    (at this test's hidden size 32) runs on another kernel that rounds differently. Items of 4 or more
    rollouts give the same bits as one big item (measured on AMX, AVX-512 BF16 and AVX2 kernels)."""
    large = search(tiny_ckpt, puzzles, K=4, sigma=0.3, chunk_size=48, dtype="bfloat16").records
    pd.testing.assert_frame_equal(search(tiny_ckpt, puzzles, K=4, sigma=0.3, chunk_size=16,
                                         dtype="bfloat16").records, large)
    tiny = search(tiny_ckpt, puzzles, K=4, sigma=0.3, chunk_size=3, dtype="bfloat16").records
    assert (tiny.q_halt - large.q_halt).abs().max() <= 0.5  # the same rollouts, up to bf16 rounding
    assert (tiny.answer_hash == large.answer_hash).mean() >= 0.75
