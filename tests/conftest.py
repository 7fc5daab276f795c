"""Shared fixtures: a tiny random TRM checkpoint with a few generated Sudoku puzzles inside."""
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from ptrm.checkpoint import pack_test_set, save_checkpoint
from ptrm.evaluate import StepOutputs, evaluate
from ptrm.plan import ExecutionPlan
from ptrm.puzzles import PuzzleSet
from ptrm.tasks.sudoku.sets import generate_sudoku_set
from ptrm.model import TRM, TRMConfig

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"

# The suite's exact numbers are CPU numbers (the official fixtures were made on a CPU), so models load on the CPU
# here even on a GPU machine; tests/test_cuda.py runs the GPU path on purpose. PTRM_DEVICE=cuda pytest runs all
# of it on the GPU (where bit-exact comparisons with CPU fixtures are not expected to hold).
os.environ.setdefault("PTRM_DEVICE", "cpu")

NO_NODE = "pzpr.js needs Node.js (`node` is not on PATH); CI installs it"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason=NO_NODE)


def tiny_config(**kw) -> TRMConfig:
    base = dict(hidden_size=32, puzzle_emb_ndim=32, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=4)
    return TRMConfig(**{**base, **kw})


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The test models are tiny: a second thread only adds overhead (10x slower on a busy 2-core box)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def puzzles():
    return generate_sudoku_set(12, seed=123)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, puzzles):
    """A random-weight checkpoint: the search machinery does not care whether the model is any good."""
    torch.manual_seed(0)
    model = TRM(tiny_config())
    with torch.no_grad():  # a live Q head, so rankings are not all ties
        model.q_head.weight.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, task="sudoku", test_set=pack_test_set(puzzles), metrics={})
    return path


def deterministic_steps(model, inputs, ids, steps=None, dtype="float32", task="sudoku") -> dict:
    """Every step of the deterministic run (the search engine with sigma 0, K=1: ptrm.evaluate) on these inputs
    and puzzle identifiers: `preds` [D, N, S], `q_halt` [D, N] and `logits` [D, N, S, V] (fp32), as tensors."""
    inputs, ids = np.asarray(inputs), np.asarray(ids)
    pset = PuzzleSet(inputs, np.zeros_like(inputs), ids, task, model.cfg.vocab_size, model.cfg.seq_len, "test")
    D = steps or model.cfg.halt_max_steps
    out = StepOutputs(len(pset), D, logits=True)
    evaluate(model, pset, ExecutionPlan.resolve(model.device, dtype), steps=D, outputs=out)
    return {"preds": torch.from_numpy(out.preds), "q_halt": torch.from_numpy(out.q_halt),
            "logits": torch.from_numpy(out.logits)}


def assert_same_records_across_batches(a, b):
    """Records of one search run in batches of other sizes: equal, q up to fp32 rounding. A matmul library may
    round a batch of another size differently (MKL's AVX2 kernels on an Intel CPU do; docs/method.md); a random
    model's q then drifts by up to ~3e-5 over a few steps. Answers and every other column must match exactly."""
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-4, atol=1e-4)


def subprocess_env() -> dict:
    """The environment for a child Python that imports this checkout (tests run from the repository root)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
