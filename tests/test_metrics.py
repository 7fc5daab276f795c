"""Metrics: every @k estimator against brute force over all k-subsets, selectors, CIs, FLOPs, errors."""

import math
from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ptrm.errors import PtrmError
from ptrm.metrics import cost_per_puzzle, flops_per_puzzle, flops_per_step, mean_ci, pass_at_k, swiglu_inter
from ptrm.rules import curves, per_puzzle_at_k, select


def make_records(n, puzzles, seed, q_levels=3, n_answers=3, continuous_q=False):
    """Random records with deliberate ties: Q drawn from a few levels, answers from a small pool."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(puzzles):
        right = rng.random(n_answers) < 0.4  # which answers of this puzzle are correct
        for k in range(n):
            a = int(rng.integers(n_answers))
            q = rng.normal() * 4 if continuous_q else float(rng.integers(q_levels)) - 1.0
            rows.append({"puzzle": 100 + p, "k": k, "q_halt": q, "correct": bool(right[a]),
                         "cell_acc": 1.0 if right[a] else 0.5, "answer_hash": f"h{a}"})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # row order must not matter


# ----------------------------------------------------------------------------- brute force

def _winners_correct(scores, correct_of):
    """Fraction of the tied top answers that are correct (ties split evenly)."""
    best = max(scores.values())
    top = [a for a, s in scores.items() if s >= best * (1 - 1e-9)]
    return np.mean([correct_of[a] for a in top])


def brute(group, rule, k):
    """Expected correctness of `rule` over all k-subsets of one puzzle's rollouts, random tie-breaks."""
    rows = list(group.itertuples())
    correct_of = {r.answer_hash: r.correct for r in rows}
    out = []
    for sub in combinations(rows, k):
        if rule == "pass":
            out.append(any(r.correct for r in sub))
        elif rule == "best_q":
            best = max(r.q_halt for r in sub)
            out.append(np.mean([r.correct for r in sub if r.q_halt == best]))
        else:
            scores = {}
            for r in sub:
                vote = 1.0 if rule == "mode" else 1 / (1 + math.exp(-r.q_halt))
                scores[r.answer_hash] = scores.get(r.answer_hash, 0.0) + vote
            out.append(_winners_correct(scores, correct_of))
    return float(np.mean(out))


@pytest.mark.parametrize("n", range(1, 8))
def test_estimators_match_brute_force(n):
    records = make_records(n, puzzles=5, seed=n)
    groups = {p: g for p, g in records.groupby("puzzle")}
    for rule in ("pass", "best_q", "mode", "q_weighted"):
        for k in range(1, n + 1):
            values, method = per_puzzle_at_k(records, rule, k)
            assert method == "exact"
            expected = [brute(groups[p], rule, k) for p in values.index]
            np.testing.assert_allclose(values.to_numpy(), expected, atol=1e-12, err_msg=f"{rule}@{k}")


def test_q_weighted_ties_between_equal_sums():
    # Two answers with two rollouts each at mirrored Q: the sums tie up to float rounding.
    records = pd.DataFrame({"puzzle": 0, "k": range(4), "q_halt": [0.3, 1.7, 1.7, 0.3],
                            "correct": [True, True, False, False], "cell_acc": 1.0,
                            "answer_hash": [1, 1, 2, 2]})
    values, _ = per_puzzle_at_k(records, "q_weighted", 4)
    assert values.iloc[0] == pytest.approx(0.5)
    assert select(records, "q_weighted")["k"].iloc[0] == 0  # tie -> the answer seen first


def test_q_weighted_tiny_and_underflowing_sigmoids():
    # Q far below 0: sigmoids ~1e-13 still rank answers (the tie tolerance is relative, not absolute).
    records = pd.DataFrame({"puzzle": 0, "k": range(3), "q_halt": [-31.0, -30.0, -31.0],
                            "correct": [False, True, False], "cell_acc": 1.0, "answer_hash": [1, 2, 3]})
    assert per_puzzle_at_k(records, "q_weighted", 3)[0].iloc[0] == 1.0
    assert select(records, "q_weighted")["k"].iloc[0] == 1
    # sigmoid(-800) underflows to 0: the present answers tie and answers absent from a subset stay out.
    dead = records.assign(q_halt=-800.0, answer_hash=[1, 2, 2], correct=[False, True, True])
    assert per_puzzle_at_k(dead, "q_weighted", 2)[0].iloc[0] == pytest.approx(2 / 3)  # (1/2 + 1/2 + 1) / 3


# ----------------------------------------------------------------------------- pass@k

def test_pass_at_k_matches_binomial_formula():
    for n in range(1, 13):
        for k in range(1, n + 1):
            expected = [1 - math.comb(n - c, k) / math.comb(n, k) for c in range(n + 1)]
            np.testing.assert_allclose(pass_at_k(n, np.arange(n + 1), k), expected, atol=1e-12)


def test_pass_at_k_stable_for_large_n():
    n, c, k = 3000, 3, 1500  # C(3000, 1500) overflows a float
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)  # Python ints: exact
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


def test_pass_at_k_monotone_in_k():
    records = make_records(7, puzzles=20, seed=11)
    acc = curves(records, range(1, 8), rules=("pass",), n_resamples=100)["accuracy"].to_numpy()
    assert np.all(np.diff(acc) >= -1e-12)


# ----------------------------------------------------------------------------- consistency

def test_every_rule_at_k1_is_mean_correctness():
    records = make_records(6, puzzles=15, seed=3)
    mean = records.groupby("puzzle")["correct"].mean().to_numpy()
    for rule in ("pass", "best_q", "mode", "q_weighted"):
        np.testing.assert_allclose(per_puzzle_at_k(records, rule, 1)[0].to_numpy(), mean, atol=1e-12)


def test_at_n_equals_selectors():
    # Continuous Q: no ties at the top, so the random and the lowest-k tie-break agree.
    records = make_records(6, puzzles=30, seed=5, continuous_q=True)
    best_q = per_puzzle_at_k(records, "best_q", 6)[0].to_numpy()
    np.testing.assert_array_equal(best_q, select(records, "best_q")["correct"].to_numpy())
    passed = per_puzzle_at_k(records, "pass", 6)[0].to_numpy()
    np.testing.assert_array_equal(passed, select(records, "oracle")["correct"].to_numpy())


def test_select_tie_breaks_by_lowest_k():
    records = pd.DataFrame({"puzzle": 7, "k": [0, 1, 2, 3], "q_halt": [1.0, 5.0, 5.0, 2.0],
                            "correct": [False, True, False, False], "cell_acc": 0.0,
                            "answer_hash": ["b", "a", "c", "c"]})
    chosen = {rule: select(records, rule).iloc[0] for rule in ("best_q", "mode", "q_weighted", "pass")}
    assert chosen["best_q"]["k"] == 1 and chosen["best_q"]["correct"]
    assert chosen["mode"]["k"] == 2 and not chosen["mode"]["correct"]  # "c" has two votes
    assert chosen["pass"]["k"] == 1
    # best-Q@4 averages the tie between rollouts 1 (right) and 2 (wrong)
    assert per_puzzle_at_k(records, "best_q", 4)[0].iloc[0] == pytest.approx(0.5)


def test_monte_carlo_near_exact_and_seeded():
    records = make_records(12, puzzles=30, seed=8, n_answers=4)
    for rule in ("mode", "q_weighted"):
        exact, m1 = per_puzzle_at_k(records, rule, 5)
        mc, m2 = per_puzzle_at_k(records, rule, 5, mc_samples=3000, exact_limit=0)
        assert (m1, m2) == ("exact", "monte-carlo")
        assert abs(mc.mean() - exact.mean()) < 0.01
        assert np.abs(mc - exact).max() < 0.05
        again, _ = per_puzzle_at_k(records, rule, 5, mc_samples=3000, exact_limit=0)
        np.testing.assert_array_equal(mc.to_numpy(), again.to_numpy())


# ----------------------------------------------------------------------------- curves and CIs

def test_curves_table_and_ci():
    records = make_records(5, puzzles=40, seed=2)
    table = curves(records, [1, 3, 5], n_resamples=500)
    assert list(table.columns) == ["rule", "k", "accuracy", "ci_low", "ci_high", "method"]
    assert len(table) == 12 and set(table["method"]) == {"exact"}
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    assert (table["ci_high"] - table["ci_low"] > 0).all()


def test_ci_degenerate_values():
    assert mean_ci(np.ones(50)) == (1.0, 1.0)
    assert mean_ci([0.25]) == (0.25, 0.25)


# ----------------------------------------------------------------------------- bad input

def test_bad_input_raises():
    records = make_records(4, puzzles=3, seed=0)
    for k in (0, 5, 2.0):
        with pytest.raises(PtrmError):
            per_puzzle_at_k(records, "best_q", k)
    with pytest.raises(PtrmError, match="answer_hash"):
        per_puzzle_at_k(records.drop(columns="answer_hash"), "mode", 2)
    with pytest.raises(PtrmError, match="same number"):
        per_puzzle_at_k(records.iloc[1:], "pass", 1)
    with pytest.raises(PtrmError, match="duplicate"):
        per_puzzle_at_k(pd.concat([records, records]), "pass", 1)
    with pytest.raises(PtrmError, match="unknown"):
        per_puzzle_at_k(records, "best_of", 1)
    with pytest.raises(PtrmError, match="unknown"):
        select(records, "best_of")
    with pytest.raises(PtrmError, match="no select"):  # a pooled ranking only
        select(records, "vote")
    collision = records.assign(answer_hash="same", correct=records["k"] == 0)
    with pytest.raises(PtrmError, match="both correct and incorrect"):
        select(collision, "mode")
    with pytest.raises(PtrmError, match="empty"):
        select(records.iloc[:0], "best_q")
    with pytest.raises(PtrmError):
        pass_at_k(3, 1, 4)
    with pytest.raises(PtrmError, match="lacks"):
        flops_per_step(SimpleNamespace(hidden_size=8))


# ----------------------------------------------------------------------------- compute cost

def tiny_cfg(mlp_t):
    return SimpleNamespace(hidden_size=8, num_heads=2, expansion=4, L_layers=1, H_cycles=2, L_cycles=1,
                           mlp_t=mlp_t, puzzle_emb_len=2, seq_len=4, vocab_size=3)


def test_swiglu_inter_spec_examples():
    assert [swiglu_inter(w, 4) for w in (512, 97, 64, 8, 6)] == [1536, 512, 256, 256, 256]
    # The width rule reproduces the official Sudoku MLP parameter count (trm-spec.md): embed + lm_head
    # + q_head (with bias) + 2 blocks of (token SwiGLU on L=97 + channel SwiGLU on D=512).
    D, L, vocab = 512, 97, 11
    blocks = 2 * (3 * swiglu_inter(L, 4) * L + 3 * swiglu_inter(D, 4) * D)
    assert 2 * vocab * D + 2 * D + 2 + blocks == 5_028_866


def test_flops_hand_count():
    # D=8, L=4+2=6, both SwiGLU widths round up to inter=256; 2*(1+1)=4 network calls of 1 block.
    channel = 3 * 256 * 8 * 6                   # gate_up + down on 6 tokens of width 8
    heads = 4 * 3 * 8 + 2 * 8                   # lm_head on 4 answer tokens + q_head on one token
    token_mlp = 3 * 256 * 6 * 8                 # gate_up + down over 6 tokens, for 8 channels
    attention = 6 * (3 * 64 + 64) + 2 * 36 * 8  # qkv + o_proj on 6 tokens; QK^T and AV
    assert flops_per_step(tiny_cfg(True)) == 2 * (4 * (token_mlp + channel) + heads) == 590_048
    assert flops_per_step(tiny_cfg(False)) == 2 * (4 * (attention + channel) + heads) == 312_032
    assert flops_per_puzzle(tiny_cfg(True), D=16, K=100) == 590_048 * 1600


def test_cost_per_puzzle():
    assert cost_per_puzzle(3600, 1000) == pytest.approx(0.0025)
    assert cost_per_puzzle(36, 10, usd_per_gpu_hour=10.0) == pytest.approx(0.01)
