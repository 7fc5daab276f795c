import numpy as np
import pytest

from ptrm.errors import PtrmError
from ptrm.tasks import sudoku

# Arto Inkala's "world's hardest sudoku": unique, and singles alone do not crack it.
INKALA = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."


def test_tokens_round_trip_and_follow_the_official_ids():
    digits = sudoku.parse(INKALA)
    tokens = sudoku.encode(digits)
    assert tokens.dtype == np.int32
    assert tokens[0] == 9 and tokens[1] == 1  # digit 8 -> 9, blank -> 1
    np.testing.assert_array_equal(sudoku.decode(tokens), digits)
    assert sudoku.decode(np.array([0, 1, 2, 10])).tolist() == [0, 0, 1, 9]  # PAD and blank -> 0


def test_parse_accepts_dots_or_zeros_and_rejects_bad_strings():
    assert sudoku.to_string(sudoku.parse(INKALA.replace(".", "0"))) == INKALA
    with pytest.raises(PtrmError, match="80 cells"):
        sudoku.parse(INKALA[:80])
    with pytest.raises(PtrmError, match="'x'"):
        sudoku.parse("x" + INKALA[1:])


def test_pretty_draws_a_boxed_grid():
    lines = sudoku.pretty(sudoku.parse(INKALA)).splitlines()
    assert len(lines) == 13 and lines[1] == "| 8 · · | · · · | · · · |"


def test_solver_finds_the_unique_solution_of_a_hard_puzzle():
    puzzle = sudoku.parse(INKALA)
    solution = sudoku.solve(puzzle)
    assert sudoku.count_solutions(puzzle) == 1
    assert sudoku.is_valid_solution(solution, puzzle)
    assert sudoku.rate(puzzle) > 10  # needs real search


def test_solver_counts_up_to_the_limit_and_spots_clashing_givens():
    assert sudoku.count_solutions(np.zeros(81), limit=5) == 5
    clash = sudoku.parse("11" + "." * 79)
    assert sudoku.count_solutions(clash) == 0 and sudoku.solve(clash) is None


def test_valid_solutions_checks_units_and_givens():
    puzzle = sudoku.parse(INKALA)
    good = sudoku.solve(puzzle)
    swapped = good.copy()
    swapped[[1, 2]] = swapped[[2, 1]]  # rows still fine, columns broken
    other_givens = puzzle.copy()
    other_givens[0] = good[0] % 9 + 1
    assert sudoku.valid_solutions(np.stack([good, swapped, good]),
                                  np.stack([puzzle, puzzle, other_givens])).tolist() == [True, False, False]


def test_generated_puzzles_are_unique_minimal_and_rated():
    puzzles, solutions, ratings = sudoku.generate(20, seed=0)
    assert sudoku.valid_solutions(solutions, puzzles).all()
    for puzzle, rating in zip(puzzles, ratings):
        assert sudoku.count_solutions(puzzle) == 1
        assert sudoku.rate(puzzle) == rating
    clues = (puzzles > 0).sum(axis=1)
    assert 17 <= clues.min() and clues.max() <= 30
    # Minimal: every clue is needed for uniqueness.
    puzzle = puzzles[0]
    for cell in np.flatnonzero(puzzle):
        reduced = puzzle.copy()
        reduced[cell] = 0
        assert sudoku.count_solutions(reduced) == 2


def test_generation_is_deterministic_per_puzzle():
    first, _, _ = sudoku.generate(3, seed=5)
    more, _, _ = sudoku.generate(6, seed=5)
    np.testing.assert_array_equal(first, more[:3])  # puzzle i does not depend on n
    other, _, _ = sudoku.generate(3, seed=6)
    assert not (first == other).all(axis=1).any()


def test_clue_range_and_min_guesses_are_respected():
    puzzles, _, _ = sudoku.generate(10, seed=1, min_clues=30, max_clues=35)
    clues = (puzzles > 0).sum(axis=1)
    assert clues.min() >= 30 and clues.max() <= 35
    assert all(sudoku.count_solutions(p) == 1 for p in puzzles)
    _, _, ratings = sudoku.generate(10, seed=1, min_guesses=4)
    assert ratings.min() >= 4
    with pytest.raises(PtrmError, match="min_clues"):
        sudoku.generate(1, seed=0, min_clues=30, max_clues=25)


def test_minimal_puzzles_are_harder_than_puzzles_with_many_clues():
    _, _, hard = sudoku.generate(30, seed=2)
    _, _, easy = sudoku.generate(30, seed=2, min_clues=25, max_clues=40)
    assert hard.mean() > 2 * max(easy.mean(), 0.5)


def test_augment_keeps_puzzles_valid_and_draws_one_transform_per_row():
    puzzles, solutions, _ = sudoku.generate(8, seed=3)
    same_puzzle = np.repeat(sudoku.encode(puzzles[:1]), 64, axis=0)
    same_solution = np.repeat(sudoku.encode(solutions[:1]), 64, axis=0)
    inputs, labels = sudoku.augment(same_puzzle, same_solution, np.random.default_rng(0))
    givens, answers = sudoku.decode(inputs), sudoku.decode(labels)
    assert sudoku.valid_solutions(answers, givens).all()
    assert ((givens > 0).sum(axis=1) == (puzzles[0] > 0).sum()).all()
    assert sudoku.count_solutions(givens[0]) == 1
    assert len({sudoku.to_string(a) for a in answers}) == 64  # each row got its own transform
    # Reproducible from the generator's seed; PAD and ignored labels stay put.
    again, _ = sudoku.augment(same_puzzle, same_solution, np.random.default_rng(0))
    np.testing.assert_array_equal(again, inputs)
    _, masked = sudoku.augment(same_puzzle, np.full_like(same_solution, -100), np.random.default_rng(0))
    assert (masked == -100).all()
