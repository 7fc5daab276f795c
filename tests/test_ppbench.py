"""PPBench: the golden set read through pzpr.js, the token vocabulary, the rules as code, and the CLI."""
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm import data
from ptrm.errors import PtrmError
from ptrm import tasks
from ptrm.tasks import IGNORE_LABEL
from ptrm.tasks.ppbench import golden, pzpr, rules, tokens
from ptrm.tasks.ppbench.board import KINDS, UNDECIDED, Board, canonical_rooms
from conftest import NO_NODE, needs_node
from ppbench_corrupt import corrupt, free_cells



@pytest.fixture(scope="module")
def kept():
    """The golden puzzles that fit the frame (pzpr.js decodes them: needs Node)."""
    if shutil.which("node") is None:
        pytest.skip(NO_NODE)
    return [p for p in golden.load() if p.board is not None]


def test_golden_set_keeps_every_kind_and_says_why_it_skips(kept):
    puzzles = golden.load()
    assert len(puzzles) == 90  # 15 per kind
    counts = {k: sum(p.kind == k for p in kept) for k in KINDS}
    assert counts == {"sudoku": 15, "lightup": 9, "nurikabe": 10, "heyawake": 12, "tapa": 13, "shakashaka": 12}
    reasons = {p.skipped for p in puzzles if p.board is None}
    assert "a tapa clue with a '?'" in reasons
    assert all("larger than the 10x10 frame" in r for r in reasons - {"a tapa clue with a '?'"})


def test_decoded_solutions_replayed_as_moves_check_complete_in_pzpr(kept):
    """Our reading of each golden solution, written back as pzpr.js moves, solves the puzzle in pzpr.js."""
    results = pzpr.run([{"url": p.url, "moves": pzpr.to_moves(p.board)} for p in kept])
    failed = [(p.kind, p.url, r.get("code") or r.get("error")) for p, r in zip(kept, results) if not r.get("complete")]
    assert failed == []


def test_tokens_round_trip_every_golden_board(kept):
    for p in kept:
        inputs, labels = tokens.encode(p.board)
        back = tokens.decode(inputs, labels)
        assert back.kind == p.kind and back.given is None
        np.testing.assert_array_equal(back.clues, p.board.clues)
        np.testing.assert_array_equal(back.solution, p.board.solution)
        if p.kind == "heyawake":
            np.testing.assert_array_equal(back.rooms, canonical_rooms(p.board.rooms))
        H, W = p.board.shape
        frame = labels.reshape(10, 10)
        assert (frame[:H, :W] != IGNORE_LABEL).all() and (frame[H:] == IGNORE_LABEL).all()
        assert (frame[:, W:] == IGNORE_LABEL).all()


def test_tokens_show_a_partly_solved_board_and_keep_kinds_apart(kept):
    board = next(p.board for p in kept if p.kind == "shakashaka")
    given = np.full(board.shape, UNDECIDED, np.int8)
    cells = free_cells(board)[:20]
    given[tuple(cells.T)] = board.solution[tuple(cells.T)]
    inputs, labels = tokens.encode(Board(board.kind, board.clues, board.solution, given=given))
    np.testing.assert_array_equal(tokens.decode(inputs, labels).given, given)
    # Every token belongs to one kind, outputs and inputs are disjoint, PAD is nobody's.
    assert tokens.TOKEN_KIND[tokens.PAD] == -1
    assert not (tokens.IS_INPUT & (tokens.OUT_CODE != -99)).any()
    assert (tokens.TOKEN_KIND[1:] >= 0).all()


def test_clues_outside_the_vocabulary_are_refused():
    clues = np.zeros((5, 5), np.int16)
    clues[0, 0] = tokens.NURIKABE_MAX + 1
    with pytest.raises(PtrmError, match="above the vocabulary"):
        tokens.encode(Board("nurikabe", clues))
    with pytest.raises(PtrmError, match="does not fit"):
        tokens.encode(Board("nurikabe", np.zeros((11, 5), np.int16)))


def test_rules_accept_every_golden_solution_and_reject_a_broken_one(kept):
    assert rules.check_boards([p.board for p in kept]).all()
    for p in kept:
        b = p.board
        # The empty answer (no bulb, nothing shaded, no triangle, or 1s in sudoku) solves no golden puzzle.
        empty = np.where(b.clues > 0, b.clues, 1) if b.kind == "sudoku" else np.zeros_like(b.solution)
        assert not rules.check(b.kind, b.clues, empty, b.rooms)[0], p.url


def test_rules_take_a_batch_with_shared_clues():
    """One lightup puzzle (a black '0' in the middle), four answers: right, unlit cells, two bulbs in view of
    each other, a code that is no bulb."""
    clues = np.array([[-1, -1, -1], [-1, 0, -1], [-1, -1, -1]])
    right = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 1]])
    wrong = [right * 0, np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]]), np.where(right == 1, 2, 0)]
    assert rules.check("lightup", clues, np.stack([right, *wrong])).tolist() == [True, False, False, False]
    with pytest.raises(PtrmError, match="unknown PPBench kind"):
        rules.check("kakuro", clues, right)


def _agreement(kept, per_kind, seed):
    rng = np.random.default_rng(seed)
    boards = []
    for kind in KINDS:
        mine = [p.board for p in kept if p.kind == kind]
        boards += [corrupt(mine[i % len(mine)], rng) for i in range(per_kind)]
    ours = rules.check_boards(boards)
    theirs, codes = pzpr.check(boards)
    disagree = [(b.kind, code) for b, o, t, code in zip(boards, ours, theirs, codes) if o != t]
    assert disagree == []
    # Some corrupted boards still solve the puzzle (a swap of equal cells): both sides must see those too.
    assert ours.any() and not ours.all()


def test_rules_agree_with_pzpr_on_corrupted_boards(kept):
    _agreement(kept, per_kind=60, seed=0)


@pytest.mark.slow
def test_rules_agree_with_pzpr_on_a_thousand_corrupted_boards_per_kind(kept):
    _agreement(kept, per_kind=1000, seed=1)


def test_verify_reads_token_rows_of_mixed_kinds_and_sizes(kept):
    inputs, labels, ids = tokens.encode_boards([p.board for p in kept])
    assert tasks.get("ppbench").verify(inputs, labels).all()
    broken = labels.copy()
    broken[:, 0] = tokens.PAD  # not an output token of any kind
    assert not tasks.get("ppbench").verify(inputs, broken).any()
    assert sorted(set(ids.tolist())) == list(range(6))


@needs_node
def test_cli_writes_golden_csvs_that_load_as_puzzle_sets(tmp_path):
    result = CliRunner().invoke(main, ["data", "ppbench", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "tapa        kept 13, skipped  2 (1 larger than the frame; 1 a tapa clue with a '?')" in result.output
    for kind in KINDS:
        pset = data.load_puzzles(tmp_path / "golden" / f"{kind}.csv")
        assert pset.task == "ppbench" and pset.seq_len == 100 and pset.vocab_size == tokens.VOCAB_SIZE
        assert (pset.puzzle_identifiers == tokens.KIND_ID[kind]).all()
        assert tasks.get("ppbench").verify(pset.inputs, pset.labels).all()


def test_a_csv_with_a_bad_token_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("source,kind,height,width,question,answer\nx,lightup,1,1," + "0 " * 99 + "9999,1\n")
    with pytest.raises(PtrmError, match=r"bad.csv:2: question must be 100 token ids"):
        data.load_puzzles(path)
