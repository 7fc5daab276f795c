"""The official ARC evaluation as a selection rule over records, so that it composes with PTRM.

An ARC *test input* is (task, test_index). The dataset holds it under A augmentations (rows of the set,
see ptrm.data.arc_rows); a search runs K rollouts on each, so a test input has A x K candidate answers.
Each answer is read back the official way (crop at the EOS marks, then the augmentation inverted), so
answers from different augmentations that mean the same grid count as one. Records of an ARC run carry,
beside the usual columns: `task`, `test_index`, `aug` (the row's puzzle identifier: which augmentation),
`augmented` (False for the task as given) and `arc_hash` (the answer in the task's own frame); `correct`
is the official crop-and-compare.

Rankings of a test input's distinct answers (best first):
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
from scipy.special import expit

from ptrm import metrics
from ptrm.data import PuzzleSet, read_identifiers
from ptrm.errors import PtrmError
from ptrm.tasks import arc

RANKINGS = ("vote", "q_weighted", "best_q", "pass")
COLUMNS = ("puzzle", "k", "q_halt", "correct", "task", "test_index", "aug", "arc_hash")
_KEY = ["task", "test_index"]
_REL_TOL = 1e-9


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


def _check(records: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in records.columns]
    if missing:
        raise PtrmError(f"records lack the ARC column(s) {', '.join(missing)}; they are not from an ARC dataset")
    if len(records) == 0:
        raise PtrmError("records are empty")


def _candidates(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (test input, distinct answer): its count, mean and sum of sigmoid(Q), best Q, correctness."""
    r = records.assign(p=expit(records["q_halt"].to_numpy(np.float64)))
    return r.groupby(_KEY + ["arc_hash"], sort=False).agg(
        count=("p", "size"), q_mean=("p", "mean"), q_sum=("p", "sum"), q_max=("q_halt", "max"),
        correct=("correct", "max")).reset_index()


def _ranked_pass(records: pd.DataFrame, rule: str, attempts: int) -> pd.Series:
    """Per test input: the probability that the right answer is among the top `attempts` under `rule`."""
    cand = _candidates(records)
    if rule == "pass":
        return cand.groupby(_KEY)["correct"].max().astype(float)
    primary, secondary = {"vote": ("count", "q_mean"), "q_weighted": ("q_sum", None),
                          "best_q": ("q_max", None)}[rule]
    a = cand[primary].to_numpy(np.float64)
    b = cand[secondary].to_numpy(np.float64) if secondary else np.zeros(len(cand))
    right = cand[cand["correct"]].set_index(_KEY)
    if right.index.duplicated().any():  # the versions' labels of a test input disagree: not one task's answer
        task, index = right.index[right.index.duplicated()][0]
        raise PtrmError(f"records mark two different answers right for task {task} test input {index}")
    ra = right[primary].reindex(pd.MultiIndex.from_frame(cand[_KEY])).to_numpy(np.float64)
    rb = (right[secondary] if secondary else right[primary] * 0).reindex(
        pd.MultiIndex.from_frame(cand[_KEY])).to_numpy(np.float64)

    def close(x, y):
        return np.abs(x - y) <= _REL_TOL * np.maximum(np.abs(x), np.abs(y))
    with np.errstate(invalid="ignore"):  # NaN: the test input has no right answer
        better = (a > ra) & ~close(a, ra) | close(a, ra) & (b > rb) & ~close(b, rb)
        tied = close(a, ra) & close(b, rb)
    per = pd.DataFrame({"better": better, "tied": tied, "has": ~np.isnan(ra)}).groupby(
        [cand["task"], cand["test_index"]]).agg(better=("better", "sum"), tied=("tied", "sum"), has=("has", "max"))
    slots = np.clip(attempts - per["better"].to_numpy(), 0, None)
    value = np.where(per["has"], np.minimum(slots / np.maximum(per["tied"].to_numpy(), 1), 1.0), 0.0)
    return pd.Series(value, index=per.index)


def _subsample(records: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """k uniformly random rollouts of every dataset row (puzzle), independently."""
    key = rng.random(len(records))
    order = np.lexsort((key, records["puzzle"].to_numpy()))
    r = records.iloc[order]
    rank = r.groupby("puzzle").cumcount().to_numpy()
    return r[rank < k]


def _pass_exact(records: pd.DataFrame, k: int, n: int) -> pd.Series:
    """Oracle pass with k of n rollouts per row: 1 - prod over rows of C(n - c, k) / C(n, k)."""
    c = records.groupby(["task", "test_index", "puzzle"])["correct"].sum()
    fail = 1 - metrics.pass_at_k(n, c.to_numpy(), k)
    return 1 - pd.Series(fail, index=c.index).groupby(level=_KEY).prod()


def per_test_input(records: pd.DataFrame, rule: str, attempts: int = 2, k: int | None = None,
                   mc_samples: int = 200, seed: int = 0) -> tuple[pd.Series, str]:
    """Per test input (task, test_index): the probability `rule` puts the right answer in its top
    `attempts`, using k rollouts per augmentation (default: all). Returns (values, "exact"|"monte-carlo")."""
    _check(records)
    if rule not in RANKINGS:
        raise PtrmError(f"unknown ARC ranking {rule!r}; choose from {', '.join(RANKINGS)}")
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or attempts < 1:
        raise PtrmError(f"attempts must be an integer >= 1, got {attempts!r}")
    sizes = records.groupby("puzzle").size()
    n = int(sizes.min())
    if sizes.nunique() != 1:
        raise PtrmError(f"every dataset row needs the same number of rollouts; found {sizes.min()}..{sizes.max()}")
    k = n if k is None else k
    if not 1 <= k <= n:
        raise PtrmError(f"k={k} is outside 1..{n} (rollouts per augmentation in the records)")
    if k == n:
        return _ranked_pass(records, rule, attempts), "exact"
    if rule == "pass":
        return _pass_exact(records, k, n), "exact"
    rng = np.random.default_rng([seed, k])
    draws = [_ranked_pass(_subsample(records, k, rng), rule, attempts) for _ in range(mc_samples)]
    return pd.concat(draws, axis=1).mean(axis=1), "monte-carlo"


def task_scores(values: pd.Series) -> pd.Series:
    """Per task: the mean over its test inputs (the official per-task score)."""
    return values.groupby(level="task").mean()


def summary(records: pd.DataFrame, rules=RANKINGS, attempts=(1, 2), k: int | None = None,
            mc_samples: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per (rule, attempts): the official score (mean over tasks) with a 95% bootstrap interval
    over tasks, and whether it is exact."""
    rows = []
    for rule in rules:
        for a in attempts:
            if rule == "pass" and a != attempts[0]:
                continue  # the oracle does not depend on the number of attempts
            values, method = per_test_input(records, rule, a, k, mc_samples, seed)
            tasks = task_scores(values)
            low, high = metrics.mean_ci(tasks.to_numpy(), seed=seed)
            rows.append({"rule": rule, "attempts": "all" if rule == "pass" else a, "accuracy": float(tasks.mean()),
                         "ci_low": low, "ci_high": high, "tasks": len(tasks), "method": method})
    return pd.DataFrame(rows)


def deterministic_records(preds: np.ndarray, q_halt: np.ndarray, labels: np.ndarray,
                          rows: pd.DataFrame) -> pd.DataFrame:
    """Records (one rollout, k = 0, per dataset row) of a deterministic run: the official evaluation's input."""
    return pd.DataFrame({"puzzle": np.arange(len(preds)), "k": 0, "q_halt": q_halt.astype(np.float64),
                         **record_columns(preds, labels, rows)})


def unaugmented(records: pd.DataFrame) -> pd.DataFrame:
    """The records of the rows that hold a task as given (no augmentation): the model without the vote."""
    return records[~records["augmented"].to_numpy(bool)]


def deterministic_metrics(preds: np.ndarray, q_halt: np.ndarray, pset: PuzzleSet) -> dict:
    """ARC metrics of a deterministic run (final answers `preds` [N, 900], `q_halt` [N]) on ARC set `pset`:
    exact accuracy by the official crop-and-compare, and `arc`: pass@1/pass@2 of the task as given
    (no vote) and of the official vote over every augmentation."""
    records = deterministic_records(preds, q_halt, pset.labels, pset.rows)
    arc = {"tasks": int(records["task"].nunique()),
           "versions": round(float(records.groupby(_KEY).size().mean()), 2)}  # per test input
    plain = unaugmented(records)
    for a in (1, 2):
        arc[f"vote_pass@{a}"] = float(task_scores(per_test_input(records, "vote", a)[0]).mean())
        if len(plain):  # one answer per test input: pass@2 = pass@1
            arc[f"unaugmented_pass@{a}"] = float(task_scores(per_test_input(plain, "vote", a)[0]).mean())
    return {"exact_accuracy": float(records["correct"].mean()), "arc": arc}


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
