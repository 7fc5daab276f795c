"""Sudoku: token encoding, verification, a bitmask solver, a puzzle generator and augmentation.

Grids are digit arrays, (81,) or (N, 81) uint8 in row-major order with 0 for a blank cell. Models see
the official TRM tokens instead: PAD 0, blank 1, digit d -> d + 1 (2..10); `encode`/`decode` convert.

The solver and the generator are numba-compiled depth-first searches over 9-bit candidate masks (bit
d-1 set = digit d still possible) with naked- and hidden-single propagation at every node. A puzzle's
rating is the number of guesses (search nodes below the root) needed to prove it has one solution:
0 means singles alone solve it, which is what most random puzzles with 30+ clues need.
"""
import numpy as np
from numba import njit
from tqdm import tqdm

from ptrm.errors import PtrmError

VOCAB_SIZE = 11
SEQ_LEN = 81
PAD, BLANK = 0, 1
ALL_DIGITS = 0x1FF  # candidate mask with all of 1..9 possible

# The 27 units (9 rows, 9 columns, 9 boxes) as cell indices, and the three units of each cell.
_ROWS = np.arange(81).reshape(9, 9)
_BOXES = _ROWS.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)
UNITS = np.concatenate([_ROWS, _ROWS.T, _BOXES]).astype(np.int64)
_CELL_ROW = np.arange(81) // 9
_CELL_COL = np.arange(81) % 9
_CELL_BOX = (_CELL_ROW // 3) * 3 + _CELL_COL // 3
# Lookup tables over 9-bit masks: number of set bits, and the digit of the lowest set bit.
_POPCOUNT = np.array([bin(m).count("1") for m in range(512)], dtype=np.int64)
_LOWEST_DIGIT = np.array([(m & -m).bit_length() for m in range(512)], dtype=np.int64)


# ----------------------------------------------------------------------------- tokens and text

def encode(digits: np.ndarray) -> np.ndarray:
    """Digits (0 = blank) -> official token ids (blank 1, digit d -> d + 1), int32."""
    return np.asarray(digits).astype(np.int32) + 1


def decode(tokens: np.ndarray) -> np.ndarray:
    """Token ids -> digits uint8; PAD and blank both become 0."""
    tokens = np.asarray(tokens)
    return np.where(tokens >= 2, tokens - 1, 0).astype(np.uint8)


def parse(s: str) -> np.ndarray:
    """An 81-character row-major string ('.' or '0' for blank) -> digits (81,) uint8."""
    if len(s) != 81:
        raise PtrmError(f"sudoku string has {len(s)} cells, expected 81: {s!r}")
    bad = [c for c in s if c not in ".0123456789"]
    if bad:
        raise PtrmError(f"sudoku string has bad character {bad[0]!r}: {s!r}")
    return np.array([0 if c == "." else int(c) for c in s], dtype=np.uint8)


def to_string(digits: np.ndarray) -> str:
    """Digits (81,) -> 81-character string with '.' for blanks (the Sudoku-Extreme CSV format)."""
    return "".join("." if d == 0 else str(int(d)) for d in np.asarray(digits).reshape(81))


def pretty(digits: np.ndarray) -> str:
    """A boxed 9x9 grid for terminals."""
    s = to_string(digits).replace(".", "·")
    rule = "+-------+-------+-------+"
    lines = [rule]
    for r in range(9):
        row = s[9 * r: 9 * r + 9]
        lines.append("| " + " | ".join(" ".join(row[3 * b: 3 * b + 3]) for b in range(3)) + " |")
        if r % 3 == 2:
            lines.append(rule)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- verification

def valid_solutions(answers: np.ndarray, givens: np.ndarray) -> np.ndarray:
    """(N, 81) digit answers and givens -> (N,) bool: every unit holds 1..9 once and every given is kept."""
    answers = np.asarray(answers).astype(np.int64).reshape(-1, 81)
    givens = np.asarray(givens).astype(np.int64).reshape(-1, 81)
    # A unit of 9 cells is a permutation of 1..9 exactly when the OR of 1 << digit sets bits 1..9.
    bits = np.where((answers >= 1) & (answers <= 9), 1 << np.clip(answers, 0, 9), 0)
    units_ok = (np.bitwise_or.reduce(bits[:, UNITS], axis=2) == 0x3FE).all(axis=1)
    givens_kept = ((givens == 0) | (givens == answers)).all(axis=1)
    return units_ok & givens_kept


def is_valid_solution(answer: np.ndarray, given: np.ndarray) -> bool:
    """One answer (81,) against its puzzle's givens (81,); see `valid_solutions`."""
    return bool(valid_solutions(answer, given)[0])


# ----------------------------------------------------------------------------- solver (numba)

@njit(cache=True)
def _splitmix64(state):
    """Next 64-bit number from a one-element uint64 state: a tiny PRNG that numba and numpy
    versions cannot change, so generated datasets stay reproducible."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _randint(state, n):
    return np.int64(_splitmix64(state) % np.uint64(n))


@njit(cache=True)
def _propagate(grid, cand):
    """Fill naked and hidden singles into `grid` (in place) until none are left.

    Returns -2 on a contradiction, -1 when the grid is full, else the empty cell with the fewest
    candidates (the one to branch on); `cand` then holds every empty cell's candidate mask.
    Several singles found in one sweep are all implied by the same state, so if two of them clash
    the state has no solution, which is why placing them without re-sweeping is safe.
    """
    used = np.zeros(27, np.int64)  # digits present in each unit (rows 0-8, cols 9-17, boxes 18-26)
    for c in range(81):
        d = grid[c]
        if d:
            bit = 1 << (d - 1)
            r, k, b = _CELL_ROW[c], 9 + _CELL_COL[c], 18 + _CELL_BOX[c]
            if (used[r] | used[k] | used[b]) & bit:
                return -2  # a digit twice in a unit: the givens already clash
            used[r] |= bit
            used[k] |= bit
            used[b] |= bit
    while True:
        progress = False
        best, best_n = -1, 10
        for c in range(81):
            cand[c] = 0
            if grid[c]:
                continue
            r, k, b = _CELL_ROW[c], 9 + _CELL_COL[c], 18 + _CELL_BOX[c]
            m = ALL_DIGITS & ~(used[r] | used[k] | used[b])
            if m == 0:
                return -2
            n = _POPCOUNT[m]
            if n == 1:  # naked single
                grid[c] = _LOWEST_DIGIT[m]
                used[r] |= m
                used[k] |= m
                used[b] |= m
                progress = True
            else:
                cand[c] = m
                if n < best_n:
                    best, best_n = c, n
        if progress:
            continue
        if best == -1:
            return -1
        for u in range(27):
            # Digits that fit exactly one cell of the unit: seen once but not twice.
            once, twice = 0, 0
            for i in range(9):
                m = cand[UNITS[u, i]]
                twice |= once & m
                once |= m
            if (once | used[u]) != ALL_DIGITS:
                return -2  # some missing digit has no cell left in this unit
            hidden = once & ~twice & ~used[u]
            while hidden:
                bit = hidden & -hidden
                hidden ^= bit
                for i in range(9):
                    c = UNITS[u, i]
                    if cand[c] & bit:
                        d = _LOWEST_DIGIT[bit]
                        r, k, b = _CELL_ROW[c], 9 + _CELL_COL[c], 18 + _CELL_BOX[c]
                        if grid[c] == d:
                            break  # already placed from another unit
                        if grid[c] or (used[r] | used[k] | used[b]) & bit:
                            return -2
                        grid[c] = d
                        used[r] |= bit
                        used[k] |= bit
                        used[b] |= bit
                        progress = True
                        break
        if not progress:
            return best


@njit(cache=True)
def _search(puzzle, limit, solution, rng_state, shuffle):
    """Depth-first search; returns (solutions found, capped at `limit`; guesses made).

    The first solution found is written to `solution`. With `shuffle`, branches are tried in random
    order (used to draw random full grids); otherwise digits are tried in increasing order, so the
    guess count of a puzzle is a deterministic rating.
    """
    stack = np.empty((81 * 9 + 1, 81), np.uint8)  # each branching level leaves at most 8 siblings
    cand = np.zeros(81, np.int64)
    digits = np.empty(9, np.int64)
    stack[0] = puzzle
    top, found, guesses = 1, 0, 0
    while top > 0:
        top -= 1
        grid = stack[top]  # a view: the slot is free once popped, so the children may reuse it
        cell = _propagate(grid, cand)
        if cell == -2:
            continue
        if cell == -1:
            if found == 0:
                solution[:] = grid
            found += 1
            if found >= limit:
                break
            continue
        m, n = cand[cell], 0
        while m:
            bit = m & -m
            m ^= bit
            digits[n] = _LOWEST_DIGIT[bit]
            n += 1
        if shuffle:
            for i in range(n - 1, 0, -1):
                j = _randint(rng_state, i + 1)
                digits[i], digits[j] = digits[j], digits[i]
        # Push in reverse so the first digit is explored first; the popped slot `top` is reused.
        parent = grid.copy()
        for i in range(n - 1, -1, -1):
            stack[top] = parent
            stack[top, cell] = digits[i]
            top += 1
        guesses += n
    return found, guesses


def _as_grid(digits: np.ndarray) -> np.ndarray:
    digits = np.asarray(digits)
    if digits.size != 81:
        raise PtrmError(f"sudoku grid has {digits.size} cells, expected 81")
    if digits.min() < 0 or digits.max() > 9:
        raise PtrmError(f"sudoku grid has cell values {digits.min()}..{digits.max()}, expected 0..9")
    return np.ascontiguousarray(digits, dtype=np.uint8).reshape(81)


_NO_RNG = np.zeros(1, np.uint64)


def count_solutions(digits: np.ndarray, limit: int = 2) -> int:
    """Number of solutions of a puzzle (81,), counting no further than `limit`."""
    return int(_search(_as_grid(digits), limit, np.zeros(81, np.uint8), _NO_RNG, False)[0])


def solve(digits: np.ndarray) -> np.ndarray | None:
    """A solution (81,) uint8 of the puzzle, or None if it has none."""
    solution = np.zeros(81, np.uint8)
    found, _ = _search(_as_grid(digits), 1, solution, _NO_RNG, False)
    return solution if found else None


def rate(digits: np.ndarray) -> int:
    """Difficulty of a uniquely solvable puzzle: guesses needed to prove its solution unique
    (0 = naked and hidden singles suffice). For other puzzles the search stops at a second solution."""
    return int(_search(_as_grid(digits), 2, np.zeros(81, np.uint8), _NO_RNG, False)[1])


# ----------------------------------------------------------------------------- generator

_MAX_ATTEMPTS = 1000  # per puzzle, before giving up on a difficulty that is (nearly) unreachable


@njit(cache=True)
def _generate_one(seed, target_lo, target_hi, max_clues, min_guesses, puzzle, solution):
    """Draw one puzzle from its own seed; returns its rating, or -1 if no attempt met the limits."""
    state = np.full(1, seed, np.uint64)
    empty = np.zeros(81, np.uint8)
    scratch = np.zeros(81, np.uint8)
    order = np.arange(81)
    for _ in range(_MAX_ATTEMPTS):
        _search(empty, 1, solution, state, True)  # a random full grid
        puzzle[:] = solution
        target = target_lo + _randint(state, target_hi - target_lo + 1)
        for i in range(80, 0, -1):  # random removal order (Fisher-Yates)
            j = _randint(state, i + 1)
            order[i], order[j] = order[j], order[i]
        clues = 81
        for c in order:
            if clues <= target:
                break
            puzzle[c] = 0
            if _search(puzzle, 2, scratch, state, False)[0] == 1:
                clues -= 1
            else:
                puzzle[c] = solution[c]  # this clue is needed for uniqueness
        if clues > max_clues:
            continue
        guesses = _search(puzzle, 2, scratch, state, False)[1]
        if guesses >= min_guesses:
            return guesses
    return -1


def puzzle_seed(seed, index: int) -> np.uint64:
    """The 64-bit seed of puzzle `index` in a set drawn with `seed` (an int or a tuple of ints).
    Each puzzle has its own seed, so puzzle i is the same whatever n or batch it is generated in."""
    entropy = [*seed, index] if isinstance(seed, (tuple, list)) else [seed, index]
    return np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]


def generate(n: int, seed, min_clues: int = 17, max_clues: int | None = None, min_guesses: int = 0,
             progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw n uniquely solvable puzzles -> (puzzles (n, 81) uint8, solutions (n, 81) uint8, ratings (n,)).

    Each puzzle starts from a random full grid and loses clues in random order while its solution
    stays unique, down to a target drawn uniformly from [min_clues, max_clues] (max_clues=None: down
    to min_clues, so with the default of 17 the puzzles are minimal, usually 21-26 clues). Puzzles left
    with more than max_clues clues or rated below min_guesses are redrawn from the same seed stream.
    """
    target_hi = min_clues if max_clues is None else max_clues
    max_clues = 81 if max_clues is None else max_clues
    if not 17 <= min_clues <= max_clues <= 81:
        raise PtrmError(f"need 17 <= min_clues ({min_clues}) <= max_clues ({max_clues}) <= 81")
    if min_guesses < 0:
        raise PtrmError(f"min_guesses must be >= 0, got {min_guesses}")
    puzzles = np.zeros((n, 81), np.uint8)
    solutions = np.zeros((n, 81), np.uint8)
    ratings = np.zeros(n, np.int64)
    indices = range(n)
    if progress:
        indices = tqdm(indices, desc="sudoku", unit="puzzle")
    for i in indices:
        ratings[i] = _generate_one(puzzle_seed(seed, i), min_clues, target_hi, max_clues, min_guesses,
                                   puzzles[i], solutions[i])
        if ratings[i] < 0:
            raise PtrmError(f"no puzzle with {min_clues}-{max_clues} clues and >= {min_guesses} guesses "
                            f"in {_MAX_ATTEMPTS} attempts (seed {seed}, puzzle {i}); relax the limits")
    return puzzles, solutions, ratings


# ----------------------------------------------------------------------------- augmentation

def _line_permutations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 9) permutations of 0..8 that keep Sudoku structure: shuffle the three bands (or stacks),
    then the three lines within each band."""
    bands = np.argsort(rng.random((n, 3)), axis=1)
    within = np.argsort(rng.random((n, 3, 3)), axis=2)
    return (bands[:, :, None] * 3 + within).reshape(n, 9)


def augment(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random validity-preserving transforms of token arrays (N, 81), one per row, the same for a
    row's input and label (as the official builder's shuffle_sudoku): relabel digits 1..9, transpose
    with p=0.5, permute bands and rows within bands, stacks and columns within stacks.
    PAD, blank and ignored labels (negative) are left as they are."""
    n = len(inputs)
    rows, cols = _line_permutations(rng, n), _line_permutations(rng, n)
    # New cell (r, c) takes old cell (rows[r], cols[c]) of the (possibly transposed) grid.
    src = rows[:, _CELL_ROW] * 9 + cols[:, _CELL_COL]
    transposed = _CELL_COL * 9 + _CELL_ROW
    src = np.where((rng.random(n) < 0.5)[:, None], transposed[src], src)
    # Token lookup per row: PAD and blank fixed, digit tokens 2..10 permuted.
    lut = np.concatenate([np.tile([PAD, BLANK], (n, 1)), rng.permuted(np.tile(np.arange(2, 11), (n, 1)), axis=1)],
                         axis=1)

    def apply(x):
        moved = np.take_along_axis(np.asarray(x), src, axis=1)
        relabelled = np.take_along_axis(lut, np.clip(moved, 0, VOCAB_SIZE - 1), axis=1)
        return np.where(moved < 0, moved, relabelled).astype(moved.dtype)

    return apply(inputs), apply(labels)
