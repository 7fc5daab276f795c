"""PPBench generators: every puzzle obeys its kind's rules and has one solution (proved by the CP-SAT solver),
generation is deterministic per (kind, seed, index), and the 8 dihedral transforms and the trajectory samples
keep puzzles solved by their solutions."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import subprocess_env
from ptrm.errors import PtrmError
from ptrm.tasks.ppbench import augment, generate, models, records, solve
from ptrm.tasks.ppbench.board import BLACK, KINDS, TAPA_INDEX, UNDECIDED, WHITE, Board


@pytest.fixture(scope="module")
def boards() -> dict[str, Board]:
    """One fully clued puzzle per kind (keep=1: no clue removal, which is what makes generation slow)."""
    return {kind: generate.generate_one(kind, seed=0, index=0, keep=1.0) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_each_generated_puzzle_obeys_the_rules_and_has_exactly_one_solution(boards, kind):
    board = boards[kind]
    assert board.kind == kind and board.clues.shape == ((9, 9) if kind == "sudoku" else (10, 10))
    assert solve.satisfies(board, board.solution)
    found = solve.count_solutions(board, limit=2)
    assert found.count == 1
    np.testing.assert_array_equal(found.solution, board.solution)


@pytest.mark.parametrize("kind", KINDS)
def test_changing_any_cell_of_a_unique_solution_breaks_the_rules(boards, kind):
    board = boards[kind]
    rng = np.random.default_rng(1)
    cells = np.argwhere(augment.open_cells(board))
    codes = {"sudoku": range(1, 10), "shakashaka": range(5)}.get(kind, range(2))
    for r, c in cells[rng.permutation(len(cells))[:5]]:
        wrong = board.solution.copy()
        wrong[r, c] = next(v for v in codes if v != board.solution[r, c])
        assert not solve.satisfies(board, wrong), (kind, r, c)


def test_minimal_puzzles_lose_uniqueness_when_any_clue_goes():
    board = generate.generate_one("lightup", seed=3, index=0)  # keep=0: clues removed while unique
    assert solve.is_unique(board)
    numbered = np.argwhere((board.clues >= 0) & (board.clues <= 4))
    assert len(numbered) > 0
    for r, c in numbered:
        weaker = Board("lightup", board.clues.copy(), board.solution)
        weaker.clues[r, c] = BLACK
        assert not solve.is_unique(weaker)
    half = generate.generate_one("lightup", seed=3, index=0, keep=0.5)  # half the clues taken are put back
    full = generate.generate_one("lightup", seed=3, index=0, keep=1.0)
    n = [records.n_clues(b) for b in (board, half, full)]
    assert n[0] < n[1] < n[2] and abs(n[1] - (n[0] + n[2]) / 2) <= 0.5
    np.testing.assert_array_equal(half.solution, board.solution)


def test_puzzle_i_depends_only_on_kind_seed_and_index():
    streamed = list(generate.generate("tapa", 3, seed=7, keep=1.0))
    again = generate.generate_one("tapa", seed=7, index=2, keep=1.0)
    np.testing.assert_array_equal(streamed[2].clues, again.clues)
    np.testing.assert_array_equal(streamed[2].solution, again.solution)
    later = next(generate.generate("tapa", 1, seed=7, keep=1.0, start=1))
    np.testing.assert_array_equal(streamed[1].clues, later.clues)
    other = generate.generate_one("tapa", seed=8, index=2, keep=1.0)
    assert not np.array_equal(other.clues, again.clues)


@pytest.mark.slow
def test_parallel_generation_draws_the_same_puzzles():
    serial = list(generate.generate("lightup", 4, seed=1))
    parallel = list(generate.generate("lightup", 4, seed=1, workers=2))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.clues, b.clues)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_minimal_puzzles_of_every_kind_are_unique(kind):
    for board in generate.generate(kind, 2, seed=11):
        assert solve.satisfies(board, board.solution)
        assert solve.count_solutions(board).count == 1


def test_bad_arguments_name_the_culprit():
    with pytest.raises(PtrmError, match="kakuro"):
        generate.generate_one("kakuro", 0, 0)
    with pytest.raises(PtrmError, match="keep"):
        generate.generate_one("lightup", 0, 0, keep=1.5)
    with pytest.raises(PtrmError, match="0..7"):
        augment.transform(Board("lightup", np.full((2, 2), WHITE)), 8)


# ----------------------------------------------------------------------------- rules on known puzzles

# Two 10x10 golden PPBench puzzles per kind (golden_300.jsonl of the MIT `ppbench` wheel, puzzles from puzz.link
# authors; the URL is in each record), decoded and solved by pzpr.js, whose check(true) accepts each solution.
GOLDEN = Path(__file__).parent / "fixtures" / "ppbench_golden10.jsonl"


def test_our_rules_give_each_golden_puzzle_exactly_its_pzprjs_solution():
    boards = records.read_set(GOLDEN)
    assert sorted({b.kind for b in boards}) == sorted(set(KINDS) - {"sudoku"})
    for board in boards:
        found = solve.count_solutions(Board(board.kind, board.clues, rooms=board.rooms))
        assert found.count == 1, board.kind
        np.testing.assert_array_equal(found.solution, board.solution)


def test_reading_a_set_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "lightup", "clues": [[-1]], "solution": [[1]]}\nnot json\n')
    with pytest.raises(PtrmError, match="bad.jsonl:2"):
        records.read_set(path)


def test_written_sets_read_back_with_ratings(tmp_path, boards):
    summary = records.write_set(tmp_path / "s.jsonl", [boards["heyawake"], boards["tapa"]])
    assert summary["count"] == 2 and len(summary["rating"]) == 3
    back = records.read_set(tmp_path / "s.jsonl")
    np.testing.assert_array_equal(back[0].rooms, boards["heyawake"].rooms)
    np.testing.assert_array_equal(back[1].solution, boards["tapa"].solution)


def test_lightup_rules_on_a_tiny_board():
    # . 1 .    Solved by hand: the "1"'s bulb cannot go below it (the top corners stay dark), so it goes
    # . . .    left or right, with a bulb at the other end of the middle row and one under the "1".
    # . . #
    clues = np.array([[WHITE, 1, WHITE], [WHITE, WHITE, WHITE], [WHITE, WHITE, BLACK]])
    board = Board("lightup", clues)
    assert solve.count_solutions(board).count == 2
    for sol in (np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]]), np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]])):
        assert solve.satisfies(board, sol)
    assert not solve.satisfies(board, np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]))  # the "1" sees two bulbs
    assert not solve.satisfies(board, np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]]))  # (1, 2) and (0, 2) dark


def test_tapa_clue_reads_runs_around_the_ring():
    assert models.tapa_clue((1, 1, 0, 0, 0, 0, 0, 1)) == (3,)  # a run wrapping past the ring's start
    assert models.tapa_clue((1, 0, 1, 1, 0, 0, 0, 0)) == (2, 1)
    assert models.tapa_clue((0,) * 8) == (0,) and models.tapa_clue((1,) * 8) == (8,)
    # A 3x3 board with a "2 2" clue in the middle of its top row and a shaded U around it.
    clues = np.full((3, 3), -1)
    clues[0, 1] = TAPA_INDEX[(2, 2)]
    assert solve.satisfies(Board("tapa", clues), np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1]]))
    assert not solve.satisfies(Board("tapa", clues), np.array([[1, 0, 0], [1, 0, 1], [1, 1, 1]]))  # "2 1"


def test_shakashaka_accepts_a_diamond_and_rejects_a_broken_one():
    clues = np.full((2, 2), WHITE)
    diamond = np.array([[4, 3], [1, 2]])  # shaded corners outward: a white square turned 45 degrees
    assert solve.satisfies(Board("shakashaka", clues), diamond)
    assert solve.satisfies(Board("shakashaka", clues), np.zeros((2, 2)))  # one white 2x2 square
    assert not solve.satisfies(Board("shakashaka", clues), np.array([[4, 0], [0, 0]]))  # a cut-off corner


def test_heyawake_forbids_a_white_run_across_two_room_borders():
    rooms = np.array([[0, 1, 2]])  # three 1x1 rooms in a row
    board = Board("heyawake", np.full((1, 3), -1), rooms=rooms)
    assert not solve.satisfies(board, np.array([[0, 0, 0]]))  # a white run through all three rooms
    assert not solve.satisfies(board, np.array([[0, 1, 0]]))  # white cells cut apart
    assert solve.satisfies(board, np.array([[1, 0, 0]]))
    numbered = Board("heyawake", np.array([[0, -1, -1]]), rooms=rooms)  # room 0 holds no shaded cell
    found = solve.count_solutions(numbered)
    assert found.count == 1 and found.solution.tolist() == [[0, 0, 1]]


def test_nurikabe_islands_match_their_numbers():
    clues = np.array([[2, 0, 0], [0, 0, 0], [0, 0, 2]])
    board = Board("nurikabe", clues)
    assert solve.satisfies(board, np.array([[0, 0, 1], [1, 1, 1], [1, 0, 0]]))
    assert not solve.satisfies(board, np.array([[0, 1, 1], [1, 1, 1], [1, 0, 0]]))  # island "2" has one cell
    assert not solve.satisfies(board, np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0]]))  # two islands at "2"
    assert solve.count_solutions(board).count == 2  # both islands lie along rows, or both along columns


# ----------------------------------------------------------------------------- dihedral transforms

def test_transforms_form_the_dihedral_group():
    grid = np.arange(9).reshape(3, 3)
    assert len({augment._apply(grid, t).tobytes() for t in range(8)}) == 8  # eight different images
    for t in range(8):
        back = augment._apply(augment._apply(grid, t), augment.inverse(t))
        np.testing.assert_array_equal(back, grid)


@pytest.mark.parametrize("kind", KINDS)
def test_transformed_solutions_still_solve_the_transformed_puzzles(boards, kind):
    board = boards[kind]
    for t in range(1, 8):
        moved = augment.transform(board, t)
        assert solve.satisfies(moved, moved.solution), (kind, t)
        back = augment.transform(moved, augment.inverse(t))
        np.testing.assert_array_equal(back.clues, board.clues)
        np.testing.assert_array_equal(back.solution, board.solution)
    assert solve.is_unique(augment.transform(board, 5))


def test_heyawake_numbers_move_to_their_rooms_first_cell():
    rooms = np.array([[0, 0, 1], [2, 2, 1]])
    clues = np.array([[1, -1, 0], [1, -1, -1]])
    moved = augment.transform(Board("heyawake", clues, rooms=rooms), 1)  # a quarter turn counter-clockwise
    np.testing.assert_array_equal(moved.rooms, [[0, 0], [1, 2], [1, 2]])
    np.testing.assert_array_equal(moved.clues, [[0, -1], [1, 1], [-1, -1]])


def test_shakashaka_corners_turn_with_the_board():
    board = Board("shakashaka", np.full((1, 1), WHITE), np.array([[1]]))  # shaded bottom-left
    turns = [int(augment.transform(board, t).solution[0, 0]) for t in range(4)]
    assert turns == [1, 2, 3, 4]  # counter-clockwise: BL -> BR -> TR -> TL
    assert int(augment.transform(board, 4).solution[0, 0]) == 3  # transposed: BL -> TR


# ----------------------------------------------------------------------------- trajectory samples

def test_trajectory_samples_show_part_of_the_solution_on_open_cells(boards):
    board = boards["lightup"]
    samples = augment.trajectory_samples(board, 9, np.random.default_rng(0))
    assert len(samples) == 9
    open_ = augment.open_cells(board)
    shown = []
    for s in samples:
        decided = s.given != UNDECIDED
        assert not decided[~open_].any()
        np.testing.assert_array_equal(s.given[decided], board.solution[decided])
        np.testing.assert_array_equal(s.solution, board.solution)
        shown.append(decided.sum())
    assert len(set(shown)) > 1 and max(shown) < open_.sum()  # random depths, never the whole answer


def test_training_examples_are_the_puzzle_and_its_samples_transformed(boards):
    board = boards["shakashaka"]
    examples = augment.training_examples(board, 9, np.random.default_rng(2))
    assert len(examples) == 10 and examples[0].given is None
    for ex in examples:
        assert solve.satisfies(ex, ex.solution)
    for ex in examples[1:]:
        decided = ex.given != UNDECIDED
        np.testing.assert_array_equal(ex.given[decided], ex.solution[decided])


def test_without_ortools_only_drawing_new_puzzles_is_refused(boards):
    # a machine without OR-Tools (the GPU image, say) still runs every command; a draw says what is missing
    code = f"""
import sys
sys.modules["ortools"] = None  # as if it were not installed
from cli.main import main  # every command loads, the PPBench reader and generator modules with them
from ptrm.errors import PtrmError
from ptrm.tasks.ppbench import generate, models, solve
from ptrm.tasks.ppbench.board import Board
import numpy as np
try:
    models.build(Board("lightup", np.array({boards["lightup"].clues.tolist()}, np.int16)))
except PtrmError as e:
    print(e)
"""
    env = subprocess_env()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "solving lightup puzzles needs OR-Tools, which is not installed: pip install 'ptrm[ppbench]'"
