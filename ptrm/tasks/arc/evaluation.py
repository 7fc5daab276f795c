"""The official ARC evaluation as selection rules over pooled records (ptrm.rules), so that it composes with PTRM.

An ARC *test input* is (task, test_index). The dataset holds it under A augmentations (rows of the set,
see ptrm.tasks.arc.rows); a search runs K rollouts on each, so a test input has A x K candidate answers.
Each answer is read back the official way (crop at the EOS marks, then the augmentation inverted), so
answers from different augmentations that mean the same grid count as one. Records of an ARC run carry,
beside the usual columns: `task`, `test_index`, `aug` (the row's puzzle identifier: which augmentation),
`augmented` (False for the task as given) and `arc_hash` (the answer in the task's own frame); `correct`
is the official crop-and-compare.

A test input pools its candidates (POOLING; ptrm.rules.pooled ranks them, one implementation for every rule).
The official table's rankings of a test input's distinct answers (best first):
  vote        the official evaluator's: most candidates, ties by mean sigmoid(Q)
  q_weighted  the largest sum of sigmoid(Q)
  best_q      the highest single Q
  pass        oracle: right if any candidate is (pass@all)
pass@a (a attempts, ARC allows 2) is right when the true grid is among the top a answers. A tie at the
cut is split evenly (the expectation under a random tie-break; the official code keeps arrival order).
A task scores the fraction of its test inputs right; the headline is the mean over the tasks in the records
(the official code divides by all test tasks, so a run over part of a set is scored on that part). The official
code finds a row's test input by hashing its inverted input grid; we read it from the dataset's layout (the
row's place in its puzzle), which differs only for a task with two identical test inputs.

With k < K rollouts per augmentation, the value is the expectation over a uniformly random k-subset of
each augmentation's rollouts, independently: exact for `pass` (closed form) and at k = K, else a seeded
Monte Carlo mean over `mc_samples` draws.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm import rules
from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet, read_identifiers
from ptrm.tasks import arc

# A test input is a pool: candidates from every augmentation of it, compared in the task's own frame.
POOLING = rules.Pooling(key=("task", "test_index"), answer="arc_hash")
# The official table's rules, in its order, as `ptrm search` prints them.
TABLE = {"vote": "PTRM + official vote", "q_weighted": "PTRM, Q-weighted vote", "best_q": "PTRM, best Q",
         "pass": "PTRM oracle (any candidate)"}


def record_columns(preds: np.ndarray, labels: np.ndarray, rows: pd.DataFrame) -> dict:
    """The ARC columns of records for answers `preds` [N, 900] of dataset rows `rows` (a slice of
    PuzzleSet.rows) with `labels`: official correctness, the answer's hash in the task's frame, and where
    the row sits (task, test_index, aug)."""
    correct = np.zeros(len(preds), bool)
    hashes = np.zeros(len(preds), np.int64)
    perms = {p: np.array([int(c) for c in p], np.uint8) for p in rows["perm"].unique()}
    for i, (pred, label, trans, perm) in enumerate(zip(preds, labels, rows["trans"], rows["perm"])):
        grid, truth = arc.crop(pred), arc.crop(label)
        correct[i] = grid.shape == truth.shape and bool((grid == truth).all())
        hashes[i] = arc.grid_hash(arc.invert(grid, trans, perms[perm]))
    return {"correct": correct, "task": rows["task"].to_numpy(), "test_index": rows["test_index"].to_numpy(),
            "aug": rows["identifier"].to_numpy(),
            "augmented": rows["name"].str.contains(arc.SEP, regex=False).to_numpy(), "arc_hash": hashes}


def unaugmented(records: pd.DataFrame) -> pd.DataFrame:
    """The records of the rows that hold a task as given (no augmentation): the model without the vote."""
    return records[~records["augmented"].to_numpy(bool)]


def deterministic_metrics(records: pd.DataFrame) -> dict:
    """ARC metrics of a deterministic run from its records (one rollout per row of an ARC set, with the ARC
    columns): exact accuracy by the official crop-and-compare, and `arc`: pass@1/pass@2 of the task as given
    (no vote) and of the official vote over every augmentation."""
    arc = {"tasks": int(records["task"].nunique()),
           "versions": round(float(records.groupby(list(POOLING.key)).size().mean()), 2)}  # per test input
    plain = unaugmented(records)
    for a in (1, 2):
        arc[f"vote_pass@{a}"] = _score(records, a)
        if len(plain):  # one answer per test input: pass@2 = pass@1
            arc[f"unaugmented_pass@{a}"] = _score(plain, a)
    return {"exact_accuracy": float(records["correct"].mean()), "arc": arc}


def _score(records: pd.DataFrame, attempts: int) -> float:
    """The official score of the vote with `attempts` attempts: the mean over tasks."""
    return float(rules.unit_scores(rules.pooled(records, "vote", POOLING, attempts)[0], POOLING).mean())


def check_embeddings(weights, pset: PuzzleSet) -> None:
    """Refuse ARC rows whose puzzle identifier has an all-zero embedding row in the checkpoint: the table
    starts at zero and only identifiers seen in training move, so a zero row is an augmented task the
    checkpoint never saw (a dataset built with other augmentations), which would run silently on zeros."""
    used = np.unique(pset.puzzle_identifiers)
    zero = used[(weights[used] == 0).all(1).cpu().numpy()]
    if len(zero):
        name = pset.rows.loc[pset.rows["identifier"] == zero[0], "name"].iloc[0]
        raise PtrmError(f"{pset.source}: puzzle identifier {zero[0]} ({name!r}) has an all-zero embedding in the "
                        f"checkpoint, which never saw it ({len(zero)} such); build the data with the checkpoint's "
                        f"subsets, seed and --aug, or align it with the checkpoint's identifiers.json")


def align_to_checkpoint(pset: PuzzleSet, ckpt_path, puzzle_emb_ndim: int) -> PuzzleSet:
    """ARC: with the checkpoint's training `identifiers.json` beside it, `pset` renumbered to the checkpoint's
    identifiers by name (see align_identifiers); without one, or for other tasks, `pset` as it is (then
    evaluate.check_compatible still refuses identifiers whose embedding is all zero)."""
    names_file = Path(ckpt_path).with_name("identifiers.json")
    if pset.rows is None or puzzle_emb_ndim == 0 or not names_file.is_file():
        return pset
    return align_identifiers(pset, read_identifiers(names_file), str(names_file))


def align_identifiers(pset: PuzzleSet, names: list[str], where: str) -> PuzzleSet:
    """`pset` with its puzzle identifiers renumbered to a checkpoint's (its training data's identifiers.json
    `names`), matched by name; a name the checkpoint lacks is a one-line error."""
    index = {n: i for i, n in enumerate(names)}
    missing = ~pset.rows["name"].isin(index)
    if missing.any():
        name = pset.rows.loc[missing, "name"].iloc[0]
        raise PtrmError(f"{pset.source}: puzzle {name!r} is not among the {len(names)} identifiers of {where} "
                        f"({int(missing.sum())} rows lack one); the checkpoint never saw that augmented task")
    ids = pset.rows["name"].map(index).to_numpy(np.int32)
    rows = pset.rows.assign(identifier=ids)
    return PuzzleSet(pset.inputs, pset.labels, ids, pset.task, pset.vocab_size, pset.seq_len, pset.source, rows,
                     pset.source_index)


def official_table(run, seed: int = 0) -> pd.DataFrame:
    """ARC runs: the official score (mean over tasks, %) at pass@1 and pass@2 of the deterministic model
    (the task as given, and the official vote over augmentations) and of PTRM's rankings over all K x A
    candidates of each test input (see the module doc)."""
    m = run.manifest
    K = m["search"]["K"]
    rows = []
    det = m.get("deterministic", {}).get("arc")
    if det:
        if "unaugmented_pass@1" in det:
            rows.append({"method": "deterministic TRM, task as given", "pass@1": det["unaugmented_pass@1"],
                         "pass@2": det["unaugmented_pass@2"], "estimator": "-"})
        rows.append({"method": f"deterministic TRM + official vote ({det['versions']:g} versions)",
                     "pass@1": det["vote_pass@1"], "pass@2": det["vote_pass@2"], "estimator": "-"})
    table = rules.pooled_table(run.records, POOLING, TABLE, seed=seed)
    for rule, part in table.groupby("rule", sort=False):
        acc = dict(zip(part["attempts"], part["accuracy"]))
        rows.append({"method": f"{TABLE[rule]} (K={K})", "pass@1": acc.get(1, acc.get("all")),
                     "pass@2": acc.get(2, acc.get("all")), "estimator": part["method"].iloc[0]})
    df = pd.DataFrame(rows)
    df[["pass@1", "pass@2"]] *= 100
    return df
