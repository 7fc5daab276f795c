"""The `verified` selection rule: the highest-Q rollout the task's rules accept, best-Q when none is."""
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import tiny_config
from ptrm import rules
from ptrm.checkpoint import load_checkpoint
from ptrm.puzzles import PuzzleSet
from ptrm.errors import PtrmError
from ptrm.model import TRM
from ptrm.report import rule_table
from ptrm.plan import ExecutionPlan
from ptrm.runner import run_search
from ptrm.search import SearchConfig, WorkItem, run_work_item
from ptrm.tasks.ppbench import tokens
from ptrm.tasks.ppbench.board import Board


def make_records(q, correct, verified):
    """Records for P puzzles x n rollouts from [P, n] arrays (answers: one per correctness and verdict)."""
    q, correct, verified = (np.asarray(a) for a in (q, correct, verified))
    P, n = q.shape
    return pd.DataFrame({"puzzle": np.repeat(np.arange(P), n), "k": np.tile(np.arange(n), P),
                         "q_halt": q.ravel().astype(float), "correct": correct.ravel().astype(bool),
                         "cell_acc": correct.ravel().astype(float),
                         "answer_hash": (2 * correct + verified).ravel().astype(np.int64),
                         "verified": verified.ravel().astype(bool)})


def brute_force(q, correct, verified, k):
    """verified@k of one puzzle by enumerating every k-subset, ties in Q split evenly."""
    values = []
    for subset in combinations(range(len(q)), k):
        s = np.array(subset)
        pool = s[verified[s]] if verified[s].any() else s
        top = pool[q[pool] == q[pool].max()]
        values.append(correct[top].mean())
    return np.mean(values)


def test_exact_estimator_matches_brute_force_on_small_cases():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        q = rng.integers(0, 3, n).astype(float)  # few values: many ties
        verified = rng.random(n) < 0.4
        correct = verified | (rng.random(n) < 0.3)  # the verifier has no false positives
        rec = make_records(q[None], correct[None], verified[None])
        for k in range(1, n + 1):
            got = rules.per_puzzle_at_k(rec, "verified", k)[0].iloc[0]
            assert got == pytest.approx(brute_force(q, correct, verified, k), abs=1e-12)


def test_verified_beats_best_q_where_a_verified_rollout_exists():
    q = np.array([[3.0, 1.0, 0.5, 2.0], [1.0, 0.0, 2.0, 0.5]])
    verified = np.array([[False, True, False, False], [False, False, False, False]])
    correct = verified.copy()
    rec = make_records(q, correct, verified)
    chosen = rules.select(rec, "verified")
    assert chosen.k.tolist() == [1, 2]  # the verified rollout; best-Q where none is
    assert chosen.correct.tolist() == [True, False]
    assert rules.select(rec, "best_q").correct.tolist() == [False, False]
    K = q.shape[1]
    verified_at = rules.per_puzzle_at_k(rec, "verified", K)[0]
    best_q_at = rules.per_puzzle_at_k(rec, "best_q", K)[0]
    pass_at = rules.per_puzzle_at_k(rec, "pass", K)[0]
    assert (verified_at >= best_q_at).all() and verified_at.tolist() == pass_at.tolist() == [1.0, 0.0]


def test_curves_add_verified_only_where_records_have_it():
    rec = make_records([[1.0, 2.0]], [[True, False]], [[True, False]])
    assert "verified" in set(rules.curves(rec, [1, 2]).rule)
    old = rec.drop(columns="verified")
    assert "verified" not in set(rules.curves(old, [1, 2]).rule)
    with pytest.raises(PtrmError, match="verified"):
        rules.select(old, "verified")


def test_search_records_carry_verified_and_the_summary_reports_it(tiny_ckpt, puzzles):
    run = run_search(load_checkpoint(tiny_ckpt), puzzles.head(3), SearchConfig(K=4, sigma=0.2, D=2, dtype="float32"),
                     progress=False, deterministic=False)
    assert run.records.verified.dtype == bool
    assert not (run.records.verified & ~run.records.correct).any()  # no false positives on unique puzzles
    assert "verified@4" in set(rule_table(run).method)


def test_a_ppbench_model_runs_on_golden_token_rows():
    """A random TRM of the PPBench shape: run_work_item records a verdict per rollout from the kinds' rules."""
    clues = np.array([[-1, -1, -1], [-1, 0, -1], [-1, -1, -1]], np.int16)
    board = Board("lightup", clues, np.array([[1, 0, 0], [0, 0, 0], [0, 0, 1]], np.int8))
    inputs, labels, ids = tokens.encode_boards([board])
    pset = PuzzleSet(inputs, labels, ids, "ppbench", tokens.VOCAB_SIZE, tokens.SEQ_LEN, "test")
    torch.manual_seed(0)
    model = TRM(tiny_config(vocab_size=tokens.VOCAB_SIZE, seq_len=tokens.SEQ_LEN, num_puzzle_identifiers=6))
    records = run_work_item(model, pset, WorkItem(0, 1, 0, 3), SearchConfig(K=3, sigma=0.1, D=1, dtype="float32"),
                            ExecutionPlan.resolve("cpu", "float32"))
    assert len(records) == 3 and records.verified.dtype == bool
    assert records.verified.tolist() == records.correct.tolist()  # a random model: neither, on a unique puzzle
