"""Diagnostics without labels (ptrm.diagnostics): stability, alignment, entropy from records alone, and their AUROCs."""
import numpy as np
import pandas as pd
import pytest

from ptrm import diagnostics


def records(puzzles: dict) -> pd.DataFrame:
    """puzzle -> [(answer, q, correct), ...] as records."""
    rows = [{"puzzle": p, "k": k, "answer_hash": a, "q_halt": q, "correct": c}
            for p, rollouts in puzzles.items() for k, (a, q, c) in enumerate(rollouts)]
    return pd.DataFrame(rows)


RUN = records({
    0: [(1, 5.0, True)] * 4,                                             # all agree, Q agrees: trust it
    1: [(1, -2.0, False), (1, -1.0, False), (2, 3.0, True), (3, -4.0, False)],  # Q picks a minority answer, right
    2: [(1, 1.0, False), (2, 0.0, False), (3, -1.0, False), (4, -2.0, False)],  # all differ
})


def test_per_puzzle_values_follow_their_definitions():
    t = diagnostics.per_puzzle(RUN)
    np.testing.assert_allclose(t.stability, [1.0, 0.5, 0.25])      # share of the most common answer
    np.testing.assert_allclose(t.alignment, [1.0, 0.5, 1.0])       # best-Q answer's count / the mode's count
    np.testing.assert_allclose(t.entropy, [0.0, 1.5 * np.log(2) / np.log(4), 1.0])
    np.testing.assert_allclose(t.best_q, [5.0, 3.0, 1.0])
    assert t.pick_right.tolist() == [True, True, False]
    assert t.search_helps.tolist() == [False, True, False]  # right, though 1 of 4 rollouts is


def test_the_summary_has_means_and_aurocs_for_both_labels():
    s = diagnostics.summary(RUN)
    assert s["n_puzzles"] == 3 and s["positives"] == {"pick_right": 2, "search_helps": 1}
    assert s["mean"]["stability"] == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert s["auroc"]["pick_right"]["stability"] == 1.0      # both right picks are more stable than the wrong one
    assert s["auroc"]["search_helps"]["alignment"] == 0.0     # the helped puzzle is the least aligned
    table = diagnostics.table(s)
    assert table.diagnostic.tolist() == list(diagnostics.DIAGNOSTICS) and "AUROC pick_right (2/3)" in table


def test_puzzles_may_have_different_numbers_of_rollouts():
    uneven = records({0: [(1, 2.0, True)], 1: [(1, 0.0, False), (2, 1.0, True)]})  # a waves run
    t = diagnostics.per_puzzle(uneven)
    np.testing.assert_allclose(t.entropy, [0.0, 1.0])


def test_with_the_deterministic_models_correctness_search_helps_where_it_failed():
    baseline = pd.Series([True, False, False], index=[0, 1, 2])  # the plain TRM solves puzzle 0 only
    t = diagnostics.per_puzzle(RUN, baseline)
    assert t.search_helps.tolist() == [False, True, False]
    assert diagnostics.per_puzzle(RUN, pd.Series([False, True, False])).search_helps.tolist() == [True, False, False]
