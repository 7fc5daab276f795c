"""Selection rules as objects: one registry that every table, figure and sweep iterates over.

A rule answers "which of a puzzle's rollouts do we submit?". Each is a `Rule`: its name in tables (`best_q`), the
short name people read (`best-Q`, so the rule at K reads `best-Q@K`), its colour in every figure, and up to three
ways to apply it, each implemented once:
  select  records at full width -> the chosen rollout per puzzle (ties to the lowest rollout index k)
  at_k    the exact (or Monte Carlo) expectation over random k-subsets of a puzzle's rollouts (ptrm.metrics)
  pool    how it ranks the distinct answers of a pool of candidates: rows that share a grouping key (ARC: the
          task and test input across augmentations, see `pooled`); the score columns it sorts by
A new rule is one `Rule` put in `REGISTRY` (see ARCHITECTURE.md): the report, the sweep summary and the width
figure then show it wherever records have the columns it `needs`.

Rule names are unique; `aliases` keeps older names readable (the oracle was `oracle` in `select`, `pass` in the
curves; it is `pass` now).
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from ptrm import metrics
from ptrm.errors import PtrmError


@dataclass(frozen=True)
class Rule:
    name: str                   # the key in tables and records of tables ("best_q")
    short: str                  # the name people read ("best-Q"); label(K) = "best-Q@K"
    color: str                  # matplotlib colour, the same in every figure
    select: Callable | None = None  # (metrics.Rollouts) -> [P] chosen rollout column; None: not a per-puzzle rule
    at_k: Callable | None = None    # (metrics.Rollouts, k, mc_samples, seed, exact_limit) -> ([P] values, method)
    pool: tuple | None = None       # (primary, secondary or None): candidate columns it ranks answers by
    needs: tuple[str, ...] = ()     # record columns it reads beyond metrics.COLUMNS
    note: str = ""                  # after the label in reports: " (oracle)"
    oracle: bool = False            # reads correctness itself: an upper bound, not a selector one can run
    aliases: tuple[str, ...] = field(default=())

    def label(self, k="K") -> str:
        return f"{self.short}@{k}"

    def title(self, k="K") -> str:
        """The label with its note, as the report and the figures' legends print it."""
        return self.label(k) + self.note


# ----------------------------------------------------------------------------- the built-in rules

def _argmax_q(roll):
    return np.argmax(roll.q, axis=1)  # argmax returns the first maximum: lowest k


def _first_correct(roll):
    return np.argmax(roll.correct, axis=1)


def _first_verified(roll):
    # Unverified rollouts rank below every verified one; among each class, highest Q, then lowest k.
    verified = roll.column("verified").astype(bool)
    return np.lexsort((np.broadcast_to(np.arange(roll.n), roll.q.shape), -roll.q, ~verified), axis=1)[:, 0]


def _one_vote(roll):
    return np.ones_like(roll.q)


def _q_vote(roll):
    return expit(roll.q)


def _vote_rule(weights):
    def select(roll):
        return metrics.vote_winner(roll, weights(roll))

    def at_k(roll, k, mc_samples, seed, exact_limit):
        if mc_samples < 1:
            raise PtrmError(f"mc_samples must be >= 1, got {mc_samples}")
        # Seeded by (seed, k) only, so mode and q_weighted see the same subsets (a paired comparison) and a
        # value does not depend on which other rules or ks were requested.
        return metrics.votes_at_k(roll, weights(roll), k, mc_samples, np.random.default_rng([seed, k]), exact_limit)
    return select, at_k


_mode_select, _mode_at_k = _vote_rule(_one_vote)
_qw_select, _qw_at_k = _vote_rule(_q_vote)

REGISTRY: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("pass", "pass", "tab:blue", _first_correct, lambda roll, k, *_: (metrics.pass_at_k(
         roll.n, roll.correct.sum(axis=1), k), "exact"), pool=("correct", None), note=" (oracle)", oracle=True,
         aliases=("oracle",)),
    Rule("best_q", "best-Q", "tab:orange", _argmax_q, lambda roll, k, *_: (metrics.best_q_at_k(roll, k), "exact"),
         pool=("q_max", None)),
    Rule("mode", "mode", "tab:green", _mode_select, _mode_at_k, pool=("count", None)),
    Rule("q_weighted", "Q-weighted", "tab:purple", _qw_select, _qw_at_k, pool=("q_sum", None)),
    # the highest-Q rollout whose answer the task's rules accept, best-Q when none is (beyond the paper)
    Rule("verified", "verified", "tab:brown", _first_verified,
         lambda roll, k, *_: (metrics.best_q_at_k(roll, k, roll.column("verified").astype(bool)), "exact"), needs=("verified",)),
    # the official ARC evaluator's: most candidates, ties by mean sigmoid(Q); a pooled ranking only
    Rule("vote", "vote", "tab:olive", pool=("count", "q_mean")),
)}


def get(name: str) -> Rule:
    """The rule called `name` (or an older name of it)."""
    for rule in REGISTRY.values():
        if name == rule.name or name in rule.aliases:
            return rule
    raise PtrmError(f"unknown rule {name!r}; choose from {', '.join(REGISTRY)}")


def _with(name: str, part: str) -> Rule:
    rule = get(name)
    if getattr(rule, part) is None:
        can = [r.name for r in REGISTRY.values() if getattr(r, part) is not None]
        raise PtrmError(f"rule {name!r} has no {part.replace('_', '@')}; choose from {', '.join(can)}")
    return rule


def rules_for(records) -> tuple[str, ...]:
    """The per-puzzle rules (those with an @k estimator) these records have the columns for, in registry order."""
    return tuple(r.name for r in REGISTRY.values() if r.at_k and all(c in records.columns for c in r.needs))


# ----------------------------------------------------------------------------- per puzzle

def select(records, rule):
    """Apply a selection rule to every puzzle's full set of rollouts; ties go to the lowest rollout index.

    Returns a DataFrame with one row per puzzle: puzzle, k (the chosen rollout), correct. best_q: highest Q.
    mode: the most frequent answer. q_weighted: the answer with the largest sum of sigmoid(Q). For the vote
    rules the chosen rollout is the first one giving the winning answer, and a tie between answers goes to the
    one seen first. pass (the oracle): the first correct rollout (rollout of the lowest k if none is correct).
    """
    rule = _with(rule, "select")
    roll = metrics.Rollouts(records)
    chosen = rule.select(roll)
    return pd.DataFrame({"puzzle": roll.puzzles, "k": chosen, "correct": roll.correct[np.arange(len(chosen)), chosen]})


def _at_k(roll, name, k, mc_samples, seed, exact_limit):
    rule = _with(name, "at_k")
    return rule.at_k(roll, roll.check_k(k), mc_samples, seed, exact_limit)


def per_puzzle_at_k(records, rule, k, mc_samples=2000, seed=0, exact_limit=metrics.EXACT_LIMIT):
    """Per-puzzle expected correctness of `rule` at k (see ptrm.metrics for the estimators).

    Returns (Series indexed by puzzle, method) with method "exact" or "monte-carlo" (vote rules only,
    when C(n, k) > exact_limit). Ties: best_q averages over tied Q, the vote rules split a tie between
    answers evenly; both are the exact expectation under a uniformly random tie-break.
    """
    roll = metrics.Rollouts(records)
    values, method = _at_k(roll, rule, k, mc_samples, seed, exact_limit)
    return pd.Series(values, index=pd.Index(roll.puzzles, name="puzzle"), name=get(rule).name), method


def curves(records, ks, rules=None, mc_samples=2000, seed=0, n_resamples=2000):
    """Accuracy curves: tidy DataFrame with one row per (rule, k); rules default to `rules_for(records)`.

    Columns: rule, k, accuracy (fraction of puzzles, mean of the per-puzzle expectations), ci_low,
    ci_high (95% bootstrap over puzzles), method ("exact" / "monte-carlo"). curves(records, [K]) is
    the summary table at k = K.
    """
    roll = metrics.Rollouts(records)
    rules = rules_for(records) if rules is None else rules
    rows = []
    for rule in rules:
        for k in ks:
            values, method = _at_k(roll, rule, k, mc_samples, seed, metrics.EXACT_LIMIT)
            low, high = metrics.mean_ci(values, seed=seed, n_resamples=n_resamples)
            rows.append({"rule": get(rule).name, "k": int(k), "accuracy": float(values.mean()),
                         "ci_low": low, "ci_high": high, "method": method})
    return pd.DataFrame(rows, columns=["rule", "k", "accuracy", "ci_low", "ci_high", "method"])


# ----------------------------------------------------------------------------- pooled candidates

@dataclass(frozen=True)
class Pooling:
    """How a task pools candidates: records rows with equal `key` values answer one question (ARC: a test input,
    under every augmentation), and two candidates give the same answer when their `answer` column is equal
    (ARC: the answer read back in the task's own frame). A question scores the chance that the right answer is
    among the rule's top `attempts` answers; the headline is the mean over `key[0]` (ARC: tasks) of the mean over
    its questions."""
    key: tuple[str, ...]
    answer: str = "answer_hash"

    def check(self, records: pd.DataFrame) -> None:
        missing = [c for c in ("puzzle", "k", "q_halt", "correct", *self.key, self.answer) if c not in records.columns]
        if missing:
            raise PtrmError(f"records lack the column(s) {', '.join(missing)} this pooling reads")
        if len(records) == 0:
            raise PtrmError("records are empty")


_REL_TOL = 1e-9


def _candidates(records: pd.DataFrame, pooling: Pooling) -> pd.DataFrame:
    """One row per (question, distinct answer): its count, mean and sum of sigmoid(Q), best Q, correctness."""
    r = records.assign(p=expit(records["q_halt"].to_numpy(np.float64)))
    return r.groupby([*pooling.key, pooling.answer], sort=False).agg(
        count=("p", "size"), q_mean=("p", "mean"), q_sum=("p", "sum"), q_max=("q_halt", "max"),
        correct=("correct", "max")).reset_index()


def _ranked(records: pd.DataFrame, rule: Rule, attempts: int, pooling: Pooling) -> pd.Series:
    """Per question: the probability that the right answer is among the top `attempts` under `rule`; a tie at
    the cut is split evenly (the expectation under a random tie-break)."""
    key = list(pooling.key)
    cand = _candidates(records, pooling)
    if rule.oracle:
        return cand.groupby(key)["correct"].max().astype(float)
    primary, secondary = rule.pool
    a = cand[primary].to_numpy(np.float64)
    b = cand[secondary].to_numpy(np.float64) if secondary else np.zeros(len(cand))
    right = cand[cand["correct"]].set_index(key)
    if right.index.duplicated().any():  # the versions' labels of a question disagree: not one answer
        where = " ".join(f"{c} {v}" for c, v in zip(key, right.index[right.index.duplicated()][0]))
        raise PtrmError(f"records mark two different answers right for {where}")
    where = pd.MultiIndex.from_frame(cand[key])
    ra = right[primary].reindex(where).to_numpy(np.float64)
    rb = (right[secondary] if secondary else right[primary] * 0).reindex(where).to_numpy(np.float64)

    def close(x, y):
        return np.abs(x - y) <= _REL_TOL * np.maximum(np.abs(x), np.abs(y))
    with np.errstate(invalid="ignore"):  # NaN: the question has no right answer
        better = (a > ra) & ~close(a, ra) | close(a, ra) & (b > rb) & ~close(b, rb)
        tied = close(a, ra) & close(b, rb)
    per = pd.DataFrame({"better": better, "tied": tied, "has": ~np.isnan(ra)}).groupby(
        [cand[c] for c in key]).agg(better=("better", "sum"), tied=("tied", "sum"), has=("has", "max"))
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


def _oracle_exact(records: pd.DataFrame, k: int, n: int, pooling: Pooling) -> pd.Series:
    """The oracle with k of n rollouts per row: 1 - prod over the question's rows of C(n - c, k) / C(n, k)."""
    c = records.groupby([*pooling.key, "puzzle"])["correct"].sum()
    fail = 1 - metrics.pass_at_k(n, c.to_numpy(), k)
    return 1 - pd.Series(fail, index=c.index).groupby(level=list(pooling.key)).prod()


def pooled(records: pd.DataFrame, rule, pooling: Pooling, attempts: int = 2, k: int | None = None,
           mc_samples: int = 200, seed: int = 0) -> tuple[pd.Series, str]:
    """Per question (`pooling.key`): the probability `rule` puts the right answer in its top `attempts`, using k
    rollouts per dataset row (default: all). Exact at k = K and for the oracle (closed form), else a seeded Monte
    Carlo mean over `mc_samples` draws of k rollouts per row. Returns (values, "exact"|"monte-carlo")."""
    pooling.check(records)
    rule = _with(rule, "pool")
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or attempts < 1:
        raise PtrmError(f"attempts must be an integer >= 1, got {attempts!r}")
    sizes = records.groupby("puzzle").size()
    n = int(sizes.min())
    if sizes.nunique() != 1:
        raise PtrmError(f"every dataset row needs the same number of rollouts; found {sizes.min()}..{sizes.max()}")
    k = n if k is None else k
    if not 1 <= k <= n:
        raise PtrmError(f"k={k} is outside 1..{n} (rollouts per dataset row in the records)")
    if k == n:
        return _ranked(records, rule, attempts, pooling), "exact"
    if rule.oracle:
        return _oracle_exact(records, k, n, pooling), "exact"
    rng = np.random.default_rng([seed, k])
    draws = [_ranked(_subsample(records, k, rng), rule, attempts, pooling) for _ in range(mc_samples)]
    return pd.concat(draws, axis=1).mean(axis=1), "monte-carlo"


def unit_scores(values: pd.Series, pooling: Pooling) -> pd.Series:
    """Per scoring unit (`pooling.key[0]`; ARC: the task): the mean over its questions."""
    return values.groupby(level=pooling.key[0]).mean()


def pooled_table(records: pd.DataFrame, pooling: Pooling, rules, attempts=(1, 2), k: int | None = None,
                 mc_samples: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per (rule, attempts): the score (mean over units) with a 95% bootstrap interval over units, the
    number of units, and whether it is exact. The oracle does not depend on attempts: one row, attempts "all"."""
    rows = []
    for name in rules:
        rule = get(name)
        for a in attempts:
            if rule.oracle and a != attempts[0]:
                continue
            values, method = pooled(records, rule.name, pooling, a, k, mc_samples, seed)
            units = unit_scores(values, pooling)
            low, high = metrics.mean_ci(units.to_numpy(), seed=seed)
            rows.append({"rule": rule.name, "attempts": "all" if rule.oracle else a, "accuracy": float(units.mean()),
                         "ci_low": low, "ci_high": high, "tasks": len(units), "method": method})
    return pd.DataFrame(rows)
