"""Property-based tests of every reader and the estimators: whatever bytes or values come in, the answer is
either a correct result or a PtrmError of one line naming the file (and row or key), never another
exception, a hang or a silent wrong answer.

Bounded here (the default suite); `test_readers_many_examples` reruns every property with many more
examples under `-m slow`.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ptrm import rules
from ptrm.checkpoint import load_checkpoint
from ptrm.puzzles import PuzzleSet
from ptrm.tasks.maze.sets import generate_maze_set
from ptrm.data import read_csv, read_official
from ptrm.errors import PtrmError
from ptrm.evaluate import check_compatible
from ptrm.tasks import maze
from ptrm.train import load_config

from conftest import FIXTURES

CSV = FIXTURES / "official_sudoku_dataset" / "source_test.csv"
OFFICIAL = FIXTURES / "official_sudoku_dataset" / "test"
FAST = settings(max_examples=int(os.environ.get("PTRM_FUZZ_EXAMPLES", 25)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def refused(call, path, *more):
    """Run `call`; if it refuses, the refusal is one line naming `path` (and each of `more`)."""
    try:
        return call()
    except PtrmError as e:
        message = str(e)
        assert "\n" not in message and str(path) in message, message
        assert all(m in message for m in more), message
        return None


# ----------------------------------------------------------------------------- CSV

@FAST
@given(cut=st.integers(0, len(CSV.read_bytes())))
def test_csv_truncated_anywhere(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("csv") / "cut.csv"
    path.write_bytes(CSV.read_bytes()[:cut])
    pset = refused(lambda: read_csv(path), path)
    if pset is not None:  # cut at a line end: exactly the first rows, nothing invented
        whole = read_csv(CSV)
        np.testing.assert_array_equal(pset.inputs, whole.inputs[:len(pset)])
        np.testing.assert_array_equal(pset.labels, whole.labels[:len(pset)])


@FAST
@given(data=st.data())
def test_csv_with_random_bytes_spliced_in(tmp_path_factory, data):
    text = CSV.read_bytes()
    at = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    path = tmp_path_factory.mktemp("csv") / "spliced.csv"
    path.write_bytes(text[:at] + junk + text[at + data.draw(st.integers(0, 3)):])
    refused(lambda: read_csv(path), path)


@FAST
@given(header=st.lists(st.sampled_from(["source", "question", "answer", "rating", "extra"]), max_size=6))
@example(header=["source", "question", "answer"])  # found by hypothesis: a well-formed row whose answer is no Sudoku
def test_csv_with_duplicated_or_missing_columns(tmp_path_factory, header):
    path = tmp_path_factory.mktemp("csv") / "columns.csv"
    rows = [["s", "." * 81, "1" * 81, "0", "x"][: len(header)]] if header else []
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    ok = header.count("question") == 1 and header.count("answer") == 1
    pset = refused(lambda: read_csv(path), path, ":1:" if not ok else "")
    assert pset is None  # "1"*81 is no Sudoku answer (fails elsewhere), and bad headers fail first


@FAST
@given(row=st.integers(0, 1), cell=st.integers(0, 899), char=st.characters(codec="utf-8"))
def test_maze_csv_with_a_random_character(tmp_path_factory, row, cell, char):
    mazes = generate_maze_set(2, seed=0)
    questions, answers = maze.decode(mazes.inputs), maze.decode(mazes.labels)
    questions[row] = questions[row][:cell] + char + questions[row][cell + 1:]
    path = tmp_path_factory.mktemp("maze") / "maze.csv"
    path.write_text("source,question,answer,rating\n" + "".join(
        f"s,{q},{a},0\n" for q, a in zip(questions, answers)), encoding="utf-8")
    pset = refused(lambda: read_csv(path, "maze"), path)
    if pset is not None:  # an accepted change is one the answer agrees with: a wall or floor swap off the route
        assert maze.keeps_question(pset.labels, pset.inputs).all()


# ----------------------------------------------------------------------------- official .npy layout

def official_copy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("official") / "test"
    shutil.copytree(OFFICIAL, folder)
    return folder


NAMES = ["inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"]


@FAST
@given(name=st.sampled_from(NAMES), cut=st.floats(0, 1))
def test_npy_truncated_anywhere(tmp_path_factory, name, cut):
    folder = official_copy(tmp_path_factory)
    file = folder / f"all__{name}.npy"
    raw = file.read_bytes()
    file.write_bytes(raw[:int(cut * (len(raw) - 1))])  # never the whole file
    if name == "group_indices":  # read but unused: a cut there may only be refused, never misread
        refused(lambda: read_official(folder), file)
    else:
        assert refused(lambda: read_official(folder), folder) is None


@FAST
@given(name=st.sampled_from(NAMES),
       dtype=st.sampled_from([np.float32, np.float64, np.bool_, np.complex64, "U3"]),
       special=st.sampled_from([0.0, np.nan, np.inf, -np.inf, 1e30]))
def test_npy_of_the_wrong_dtype(tmp_path_factory, name, dtype, special):
    folder = official_copy(tmp_path_factory)
    file = folder / f"all__{name}.npy"
    array = np.load(file).astype(dtype)
    if array.dtype.kind == "f" and array.size:
        array.flat[0] = special
    np.save(file, array)
    assert refused(lambda: read_official(folder), file, "expected integers") is None


@FAST
@given(name=st.sampled_from(NAMES), shape=st.sampled_from([(), (0,), (3,), (2, 81), (8, 80), (8, 81, 1), (0, 81)]))
def test_npy_of_the_wrong_shape(tmp_path_factory, name, shape):
    folder = official_copy(tmp_path_factory)
    right = np.load(folder / f"all__{name}.npy")
    np.save(folder / f"all__{name}.npy", np.ones(shape, right.dtype))
    pset = refused(lambda: read_official(folder), folder)
    if pset is not None:  # a shape that happens to be consistent must still read as what it says
        assert pset.inputs.shape[1] == 81 and len(pset.labels) == len(pset.inputs)


@FAST
@given(name=st.sampled_from(["inputs", "labels"]), row=st.integers(0, 7), cell=st.integers(0, 80),
       token=st.one_of(st.integers(-2**31, -1), st.integers(11, 2**31 - 1)))
def test_tokens_outside_the_vocab(tmp_path_factory, name, row, cell, token):
    folder = official_copy(tmp_path_factory)
    file = folder / f"all__{name}.npy"
    array = np.load(file).astype(np.int64)
    array[row, cell] = token
    np.save(file, array)
    assert refused(lambda: read_official(folder), file, f"row {row} cell {cell}", str(token)) is None


@FAST
@given(key=st.sampled_from(["vocab_size", "seq_len", "ignore_label_id"]),
       value=st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3),
                       st.integers(-5, 0), st.lists(st.integers(), max_size=2)))
def test_dataset_json_values(tmp_path_factory, key, value):
    folder = official_copy(tmp_path_factory)
    meta = json.loads((folder / "dataset.json").read_text())
    meta[key] = value
    (folder / "dataset.json").write_text(json.dumps(meta))
    pset = refused(lambda: read_official(folder), folder / "dataset.json", key)
    if pset is not None:  # only another ignore_label_id can be right: no fixture label equals it
        assert key == "ignore_label_id" and isinstance(value, int)


@FAST
@given(raw=st.binary(max_size=64))
def test_dataset_json_random_bytes(tmp_path_factory, raw):
    folder = official_copy(tmp_path_factory)
    (folder / "dataset.json").write_bytes(raw)
    assert refused(lambda: read_official(folder), folder / "dataset.json") is None


# ----------------------------------------------------------------------------- checkpoints

@FAST
@given(cut=st.floats(0, 1))
def test_checkpoint_truncated_anywhere(tiny_ckpt, tmp_path_factory, cut):
    raw = tiny_ckpt.read_bytes()
    path = tmp_path_factory.mktemp("ckpt") / "cut.pt"
    path.write_bytes(raw[:int(cut * (len(raw) - 1))])
    assert refused(lambda: load_checkpoint(path), path) is None


@FAST
@given(at=st.floats(0, 1), junk=st.binary(min_size=1, max_size=16))
def test_checkpoint_with_bytes_overwritten(tiny_ckpt, tmp_path_factory, at, junk):
    raw = bytearray(tiny_ckpt.read_bytes())
    i = int(at * (len(raw) - len(junk)))
    raw[i:i + len(junk)] = junk
    path = tmp_path_factory.mktemp("ckpt") / "flipped.pt"
    path.write_bytes(bytes(raw))
    # Bytes inside a tensor's data are not checksummed by torch: such a file loads with other weights,
    # which no reader can tell from a real checkpoint. Everything else must be refused in one line.
    refused(lambda: load_checkpoint(path), path)


@FAST
@given(key=st.sampled_from(["hidden_size", "L_layers", "H_cycles", "vocab_size", "seq_len", "expansion"]),
       value=st.one_of(st.integers(-3, 0), st.text(max_size=3), st.none(), st.floats(allow_nan=True)))
def test_checkpoint_config_values(tiny_ckpt, tmp_path_factory, key, value):
    obj = torch.load(tiny_ckpt, weights_only=True)
    obj["model_config"][key] = value
    path = tmp_path_factory.mktemp("ckpt") / "config.pt"
    torch.save(obj, path)
    refused(lambda: load_checkpoint(path), path)


@FAST
@given(seq_len=st.integers(1, 200), vocab=st.integers(1, 40), top=st.integers(-5, 60))
def test_data_that_does_not_fit_the_checkpoint(tiny_ckpt, seq_len, vocab, top):
    model = load_checkpoint(tiny_ckpt).model
    tokens = np.full((2, seq_len), 1, np.int32)
    tokens[1, -1] = top
    pset = PuzzleSet(tokens, tokens.copy(), np.zeros(2, np.int32), "sudoku", vocab, seq_len, "fuzz.csv")
    fits = (seq_len, vocab) == (81, 11) and 0 <= top < 11
    assert (refused(lambda: check_compatible(model, pset) or True, "fuzz.csv") is not None) == fits


# ----------------------------------------------------------------------------- YAML configs

@FAST
@given(raw=st.binary(max_size=80))
def test_train_config_random_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("cfg") / "train.yaml"
    path.write_bytes(raw)
    refused(lambda: load_config(path), path)


@FAST
@given(key=st.sampled_from(["lr", "batch_size", "ema_rate", "max_minutes", "betas", "grad_clip", "out", "model"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.text(max_size=4),
                       st.none(), st.lists(st.floats(), max_size=3)))
def test_train_config_values(tmp_path_factory, key, value):
    path = tmp_path_factory.mktemp("cfg") / "train.yaml"
    path.write_text(yaml.safe_dump({"train_data": "data/sudoku", key: value}))  # only `key` may be wrong
    cfg = refused(lambda: load_config(path), path, key)
    if cfg is not None:  # accepted: then it is a usable value
        got = getattr(cfg, key)
        assert not isinstance(got, float) or np.isfinite(got)


# ----------------------------------------------------------------------------- estimators

records_strategy = st.integers(1, 4).flatmap(lambda P: st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.just(P), st.just(n),
    st.lists(st.floats(-10, 10), min_size=P * n, max_size=P * n),
    st.lists(st.integers(0, 2), min_size=P * n, max_size=P * n))))


def make_records(P, n, q, answers):
    """Answer 0 is the right one; answers are per puzzle, so a hash always agrees with correctness."""
    return pd.DataFrame({"puzzle": np.repeat(np.arange(P), n), "k": np.tile(np.arange(n), P),
                         "q_halt": q, "correct": np.array(answers) == 0, "cell_acc": 0.5,
                         "answer_hash": np.array(answers, dtype=np.int64)})


@FAST
@given(records=records_strategy, k=st.integers(-1, 6))
def test_estimators_are_probabilities_or_refuse(records, k):
    P, n, q, answers = records
    rec = make_records(P, n, q, answers)
    for rule in rules.rules_for(rec):
        try:
            values, _ = rules.per_puzzle_at_k(rec, rule, k, mc_samples=50)
        except PtrmError as e:
            assert not 1 <= k <= n and f"k={k}" in str(e)
            continue
        assert ((values >= -1e-12) & (values <= 1 + 1e-12)).all()
        # no rule beats the oracle
        assert (values <= rules.per_puzzle_at_k(rec, "pass", k)[0] + 1e-9).all()


@FAST
@given(records=records_strategy, bad=st.sampled_from([np.nan, np.inf, -np.inf]), where=st.floats(0, 1))
def test_estimators_refuse_non_finite_q(records, bad, where):
    P, n, q, answers = records
    q = list(q)
    q[int(where * (len(q) - 1))] = bad
    with pytest.raises(PtrmError, match="q_halt"):
        rules.curves(make_records(P, n, q, answers), [1], rules=("best_q",))


# ----------------------------------------------------------------------------- many more examples

@pytest.mark.slow
def test_every_property_with_many_examples():
    """The whole file again with 40x the examples (run with -m slow)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                          env={**os.environ, "PTRM_FUZZ_EXAMPLES": "1000"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
