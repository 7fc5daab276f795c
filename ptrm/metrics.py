"""Metrics over PTRM rollout records: the estimators behind the selection rules (ptrm.rules names them), exact
@k estimators, bootstrap CIs, compute cost.

Records are a DataFrame with one row per (puzzle, rollout): `puzzle`, `k` (rollout index), `q_halt`
(final q_halt logit), `correct` (whole answer exactly right), `cell_acc`, `answer_hash` (equal answers,
equal hash), and where the search recorded it `verified` (the answer passes the task's rules: a verifier with
no false positives on puzzles with one solution). Every puzzle has the same number n of rollouts; other
columns are ignored.

Every "@k" number is the exact expectation over a uniformly random k-subset of a puzzle's n rollouts,
averaged over puzzles, so one run at K = n gives the whole curve for every k <= n without re-running.
Ties follow one principle: the estimators break ties uniformly at random (they average over the tied
choices), the selectors on full records break ties deterministically by the lowest rollout index k.
Rollouts are exchangeable, so the lowest index is itself a random tie-break and the two views agree
in expectation.

Names from the paper: K  # rollouts per puzzle; D  # supervision steps per rollout; H  # hidden size;
Q  # the final q_halt logit, sigmoid(Q) = the model's belief that the whole answer is right.
"""

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import comb, expit
from scipy.stats import bootstrap

from ptrm.errors import PtrmError
from ptrm.model import swiglu_inter

COLUMNS = ("puzzle", "k", "q_halt", "correct", "cell_acc", "answer_hash")
EXACT_LIMIT = 20_000  # enumerate all k-subsets up to this many, else Monte Carlo
_REL_TOL = 1e-9  # vote sums within this relative gap tie (float sums of sigmoids differ by rounding only)


# ----------------------------------------------------------------------------- records

class Rollouts:
    """Records as [P, n] arrays, rows = puzzles sorted by id, columns = rollouts sorted by k: what every
    selection rule (ptrm.rules) reads."""

    def __init__(self, records):
        if not isinstance(records, pd.DataFrame):
            raise PtrmError(f"records must be a pandas DataFrame, got {type(records).__name__}")
        missing = [c for c in COLUMNS if c not in records.columns]
        if missing:
            raise PtrmError(f"records are missing column(s): {', '.join(missing)}")
        if len(records) == 0:
            raise PtrmError("records are empty")
        df = records.loc[:, list(COLUMNS)].sort_values(["puzzle", "k"], kind="stable")
        if df.duplicated(["puzzle", "k"]).any():
            raise PtrmError("records have duplicate (puzzle, k) rows")
        if df[["q_halt", "correct", "answer_hash"]].isna().any().any():
            raise PtrmError("records have missing values in q_halt, correct or answer_hash")
        if not np.isfinite(df["q_halt"].to_numpy(np.float64)).all():  # inf would win every best-Q ranking
            raise PtrmError("records have infinite q_halt values")
        sizes = df.groupby("puzzle").size()
        if sizes.nunique() != 1:
            raise PtrmError(f"every puzzle needs the same number of rollouts; found {sizes.min()}..{sizes.max()}")
        # An answer is right or wrong whatever rollout produced it; a disagreement means a hash collision
        # or corrupt records, and the vote estimators would silently return nonsense.
        if (df.groupby(["puzzle", "answer_hash"])["correct"].nunique() > 1).any():
            raise PtrmError("records give one answer_hash both correct and incorrect rollouts in a puzzle")

        self.n = int(sizes.iloc[0])  # rollouts per puzzle
        self.puzzles = sizes.index.to_numpy()
        shape = (len(self.puzzles), self.n)
        self.q = df["q_halt"].to_numpy(dtype=float).reshape(shape)
        self.correct = df["correct"].to_numpy(dtype=bool).reshape(shape)
        # Answer ids: the column of the answer's first rollout, so ids are < n and a lower id means an
        # answer seen at a lower rollout index (what the deterministic selectors break ties by).
        col = np.tile(np.arange(self.n), len(self.puzzles))
        first = pd.Series(col, index=df.index).groupby([df["puzzle"], df["answer_hash"]]).transform("min")
        self.answer = first.to_numpy().reshape(shape)
        self._records, self._order = records, df.index

    def column(self, name: str) -> np.ndarray:
        """Another column of the records as a [P, n] array, for a rule that reads it (`verified`)."""
        if name not in self._records.columns:
            raise PtrmError(f"a rule needs records with a `{name}` column (searches made before it lack one)")
        v = self._records.loc[self._order, name]
        if v.isna().any():
            raise PtrmError(f"records have missing values in {name}")
        return v.to_numpy().reshape(self.q.shape)

    def check_k(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise PtrmError(f"k must be an integer, got {k!r}")
        if not 1 <= k <= self.n:
            raise PtrmError(f"k={k} is outside 1..{self.n} (the records have {self.n} rollouts per puzzle)")
        return int(k)


# ----------------------------------------------------------------------------- selectors

def vote_winner(roll, weights) -> np.ndarray:
    """Per puzzle, the rollout whose answer has the largest sum of `weights` ([P, n]): the first rollout giving the
    winning answer, and a tie between answers (sums within rounding) goes to the one seen first."""
    rows = np.arange(len(roll.puzzles))
    votes = np.zeros_like(weights)
    np.add.at(votes, (rows[:, None], roll.answer), weights)  # votes[p, answer id]
    mine = votes[rows[:, None], roll.answer]  # each rollout's answer's total
    best = mine.max(axis=1, keepdims=True)
    return np.argmax(mine >= best * (1 - _REL_TOL), axis=1)


# ----------------------------------------------------------------------------- @k estimators

def pass_at_k(n, c, k):
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k): probability a random k-subset of n holds a correct one.

    n rollouts, c of them correct (scalar or array). Uses the product form
    C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i), which never forms a huge binomial.
    """
    c = np.asarray(c)
    if not 1 <= k <= n:
        raise PtrmError(f"k={k} is outside 1..{n}")
    if np.any((c < 0) | (c > n)):
        raise PtrmError(f"correct counts must lie in 0..{n}")
    # fail[c] = prod over the c largest i; a factor (1 - k/k) = 0 appears exactly when n - c < k.
    fail = np.concatenate([[1.0], np.cumprod(1.0 - k / np.arange(n, 0, -1))])
    return 1.0 - fail[c]


def _top_weights(n, k):
    """p_j = C(n-j, k-1) / C(n, k): probability that the rollout ranked j (1-based) tops a random k-subset.

    Built as p_1 = k/n, p_{j+1} = p_j * (n-j-k+1)/(n-j) so no binomial is formed (stable for large n).
    """
    j = np.arange(1, n)
    ratios = np.maximum(n - j - k + 1, 0) / (n - j)
    return (k / n) * np.concatenate([[1.0], np.cumprod(ratios)])


def best_q_at_k(roll, k, verified=None):
    """best-Q@k per puzzle, ties in Q averaged over (exact for a uniformly random tie-break).

    Within a tie group G the top of the subset is uniform over G's members in the subset, so the group
    contributes P(top in G) * mean correctness of G, and P(top in G) is the sum of G's rank weights.
    With `verified` ([P, n] bool) it is verified@k: the ranking puts every verified rollout above every
    unverified one (by Q within each class), so the subset's top is its best verified rollout if it holds
    one, else its best-Q rollout: the verified rule on that subset. The rank weights stay those of best-Q.
    """
    verified = np.zeros(roll.q.shape, bool) if verified is None else verified
    order = np.lexsort((-roll.q, ~verified), axis=1)
    q = np.take_along_axis(roll.q, order, axis=1)
    v = np.take_along_axis(verified, order, axis=1)
    correct = np.take_along_axis(roll.correct, order, axis=1)
    new_group = np.ones_like(q, dtype=bool)
    new_group[:, 1:] = (q[:, 1:] != q[:, :-1]) | (v[:, 1:] != v[:, :-1])
    group = np.cumsum(new_group.ravel()) - 1  # global tie-group id, rows never share a group
    w = np.broadcast_to(_top_weights(roll.n, k), q.shape).ravel()
    group_w = np.bincount(group, w) / np.bincount(group)
    return (group_w[group] * correct.ravel()).reshape(q.shape).sum(axis=1)


def _vote_value(answer, weight, correct, subsets):
    """Mean over subsets of the correctness of the vote winner, ties between answers split evenly.

    answer: [n] compact answer ids 0..u-1; weight: [n] vote weights; correct: [u] per answer;
    subsets: [S, k] rollout indices.
    """
    S, u = len(subsets), correct.size
    slot = (np.arange(S)[:, None] * u + answer[subsets]).ravel()
    votes = np.bincount(slot, weight[subsets].ravel(), minlength=S * u).reshape(S, u)
    # Absent answers must not join a 0-0 tie when every sigmoid(Q) in the subset underflows to 0.
    present = np.bincount(slot, minlength=S * u).reshape(S, u) > 0
    top = present & (votes >= votes.max(axis=1, keepdims=True) * (1 - _REL_TOL))
    return np.mean((top @ correct) / top.sum(axis=1))


def votes_at_k(roll, weights, k, mc_samples, rng, exact_limit):
    """A vote rule@k per puzzle (one vote per rollout of `weights` [P, n]: mode, or sigmoid(Q): q_weighted), exact by enumeration when C(n, k) <= exact_limit, else Monte
    Carlo over mc_samples random k-subsets per puzzle. Returns (values, "exact" | "monte-carlo")."""
    exact = comb(roll.n, k, exact=True) <= exact_limit
    subsets = np.array(list(combinations(range(roll.n), k))) if exact else None
    # A puzzle whose rollouts are all right (or all wrong) scores that under any rule: only puzzles that
    # mix right and wrong answers need the subsets. At convergence that is a small minority.
    values = roll.correct[:, 0].astype(float)
    for p in np.flatnonzero(roll.correct.any(axis=1) & ~roll.correct.all(axis=1)):
        ids, answer = np.unique(roll.answer[p], return_inverse=True)
        if not exact:
            # argpartition of uniform keys = the first k of a random permutation = a uniform k-subset.
            subsets = np.argpartition(rng.random((mc_samples, roll.n)), k - 1, axis=1)[:, :k]
        values[p] = _vote_value(answer, weights[p], roll.correct[p, ids].astype(float), subsets)
    return values, "exact" if exact else "monte-carlo"


def best_q_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Per puzzle, the row of the rollout with the highest q_halt (ties: the lowest k), whatever the number of
    rollouts each puzzle has (a waves or population run as well as an independent one)."""
    return records.sort_values(["puzzle", "q_halt", "k"], ascending=[True, False, True]).groupby("puzzle").head(1)


def mean_ci(values, seed=0, n_resamples=2000):
    """95% percentile-bootstrap interval for the mean over puzzles (scipy.stats.bootstrap, seeded).

    Percentile rather than BCa: BCa's jackknife costs O(P^2) memory over P puzzles and fails (NaN) on
    all-equal values. All-equal values (e.g. every puzzle solved) give the zero-width interval.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise PtrmError("cannot bootstrap an empty set of values")
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    # random_state (not the newer rng=) works across the whole scipy range the package admits.
    res = bootstrap((values,), np.mean, n_resamples=n_resamples, vectorized=True, method="percentile",
                    confidence_level=0.95, random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


# ----------------------------------------------------------------------------- compute cost

_CFG_FIELDS = ("hidden_size", "expansion", "L_layers", "H_cycles", "L_cycles", "mlp_t",
               "puzzle_emb_len", "seq_len", "vocab_size")


def flops_per_step(cfg):
    """Network FLOPs of one TRM supervision step for one puzzle (2 FLOPs per multiply-add).

    Counts matmuls only: per network call, each of the L_layers blocks runs a token mixer (mlp_t: a
    SwiGLU over the token axis of width L for each of the H channels; attention: qkv and output
    projections plus Q K^T and attention-times-V) and a SwiGLU over H on each of L = seq_len +
    puzzle_emb_len tokens. One step makes H_cycles * (L_cycles + 1) calls, then lm_head on the seq_len
    answer tokens (the prefix rows are discarded) and q_head on one token. Norms, RoPE, softmax,
    activations and residual adds are ignored (a few percent at these widths). num_heads does not matter:
    heads split H without changing the multiply-add count.
    """
    missing = [f for f in _CFG_FIELDS if not hasattr(cfg, f)]
    if missing:
        raise PtrmError(f"config lacks field(s): {', '.join(missing)}")
    hidden = cfg.hidden_size
    L = cfg.seq_len + cfg.puzzle_emb_len  # tokens the network sees
    if cfg.mlp_t:
        mixer = 3 * swiglu_inter(L, cfg.expansion) * L * hidden  # gate_up [2i, L] + down [L, i], on H channels
    else:
        mixer = L * (3 * hidden * hidden + hidden * hidden) + 2 * L * L * hidden  # qkv + o_proj per token; QK^T and AV
    channel = 3 * swiglu_inter(hidden, cfg.expansion) * hidden * L
    calls = cfg.H_cycles * (cfg.L_cycles + 1)
    macs = calls * cfg.L_layers * (mixer + channel) + cfg.seq_len * cfg.vocab_size * hidden + 2 * hidden
    return 2 * macs


def flops_per_puzzle(cfg, D, K=1):
    """Network FLOPs to solve one puzzle with K rollouts of D supervision steps each."""
    if D < 1 or K < 1:
        raise PtrmError(f"D and K must be >= 1, got D={D}, K={K}")
    return flops_per_step(cfg) * D * K


def cost_per_puzzle(wall_seconds, n_puzzles, usd_per_gpu_hour=2.50):
    """Dollars per puzzle under the paper's cost model: wall clock on one GPU times its hourly price."""
    if n_puzzles < 1:
        raise PtrmError(f"n_puzzles must be >= 1, got {n_puzzles}")
    if wall_seconds < 0 or usd_per_gpu_hour < 0:
        raise PtrmError("wall_seconds and usd_per_gpu_hour must be >= 0")
    return wall_seconds / 3600 * usd_per_gpu_hour / n_puzzles
