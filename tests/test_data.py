import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ptrm import data
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet, write_official
from ptrm.tasks.sudoku import sets as sudoku_sets
from ptrm.errors import PtrmError
from ptrm.tasks import sudoku

FIXTURE = Path(__file__).parent / "fixtures" / "official_sudoku_dataset"
HEADER = "source,question,answer,rating\n"
QUESTION = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
ANSWER = "812753649943682175675491283154237896369845721287169534521974368438526917796318452"


def assert_same_set(a: PuzzleSet, b: PuzzleSet):
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.puzzle_identifiers, b.puzzle_identifiers)
    assert (a.task, a.vocab_size, a.seq_len) == (b.task, b.vocab_size, b.seq_len)


def test_official_fixture_reads_as_sudoku_tokens():
    test = data.read_official(FIXTURE)  # the root: split picks test/
    assert len(test) == 8 and test.task == "sudoku" and (test.vocab_size, test.seq_len) == (11, 81)
    assert test.inputs.dtype == np.int32 and test.inputs.min() == 1  # blanks are token 1
    assert test.labels.min() == 2  # labels are full solutions, givens included; nothing ignored
    assert sudoku.valid_solutions(sudoku.decode(test.labels), sudoku.decode(test.inputs)).all()
    train = data.read_official(FIXTURE / "train")  # a split folder works too
    assert len(train) == 12  # the official builder stored 4 puzzles x 3 augmented versions


def test_csv_reads_like_the_official_builder():
    assert_same_set(sudoku_sets.read_sudoku_csv(FIXTURE / "source_test.csv"), data.read_official(FIXTURE, "test"))
    # In the augmented train split, the first version of each group is the CSV puzzle itself.
    assert_same_set(sudoku_sets.read_sudoku_csv(FIXTURE / "source_train.csv"),
                    data.read_official(FIXTURE, "train").subset(slice(0, None, 3)))


def test_fixture_puzzles_are_not_uniquely_solvable():
    # The fixture's synthetic puzzles have many solutions, so their label is one valid answer of
    # several: scoring must accept any valid solution, not only the label.
    givens = sudoku.decode(data.read_official(FIXTURE).inputs)
    assert all(sudoku.count_solutions(g) == 2 for g in givens)


def test_official_layout_round_trips(tmp_path):
    for split in ("train", "test"):
        original = data.read_official(FIXTURE, split)
        write_official(original, tmp_path, split)
        assert_same_set(data.read_official(tmp_path, split), original)
    assert json.loads((FIXTURE / "test" / "dataset.json").read_text()) == \
        json.loads((tmp_path / "test" / "dataset.json").read_text())
    assert json.loads((tmp_path / "identifiers.json").read_text()) == ["<blank>"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identifiers.json", "test", "train"]  # no temp left


def test_write_replaces_a_split_only_when_asked(tmp_path):
    pset = data.read_official(FIXTURE)
    write_official(pset, tmp_path, "test")
    with pytest.raises(PtrmError, match="already exists"):
        write_official(pset.head(2), tmp_path, "test")
    write_official(pset.head(2), tmp_path, "test", overwrite=True)
    assert len(data.read_official(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identifiers.json", "test"]


def test_ignored_labels_are_stored_as_ignore_label_id(tmp_path):
    pset = data.read_official(FIXTURE).head(3)
    pset.labels[:, :10] = IGNORE_LABEL
    folder = write_official(pset, tmp_path, "test")
    assert (np.load(folder / "all__labels.npy")[:, :10] == 0).all()
    assert (data.read_official(folder).labels[:, :10] == -100).all()


def test_read_official_names_a_missing_file(tmp_path):
    folder = write_official(data.read_official(FIXTURE), tmp_path, "test")
    (folder / "all__labels.npy").unlink()
    with pytest.raises(PtrmError, match="all__labels.npy: missing"):
        data.read_official(tmp_path)
    with pytest.raises(PtrmError, match="no dataset.json"):
        data.read_official(tmp_path, "train")


@pytest.mark.parametrize("row, message", [
    (f"s,{QUESTION},{ANSWER}", "row has 3 columns, expected 4"),
    (f"s,{QUESTION[:80]},{ANSWER},1", "question has 80 cells, expected 81"),
    (f"s,{QUESTION[:5]}x{QUESTION[6:]},{ANSWER},1", "question has character 'x' at cell 5"),
    (f"s,{QUESTION},.{ANSWER[1:]},1", "answer has blank at cell 0"),
    (f"s,{QUESTION},9{ANSWER[1:]},1", "answer changes the given at cell 0"),
])
def test_csv_errors_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "data.csv"
    path.write_text(HEADER + f"s,{QUESTION},{ANSWER},1\n" + row + "\n")
    with pytest.raises(PtrmError, match=f"data.csv:3: {message}"):
        sudoku_sets.read_sudoku_csv(path)


def test_load_puzzles_dispatches_on_the_path(tmp_path):
    assert len(data.load_puzzles(FIXTURE / "source_test.csv")) == 8
    assert len(data.load_puzzles(FIXTURE)) == 8
    assert len(data.load_puzzles(FIXTURE / "train")) == 12
    with pytest.raises(PtrmError, match="not a .csv file"):
        data.load_puzzles(FIXTURE / "identifiers.json")


def test_subset_and_head_keep_rows_aligned():
    pset = data.read_official(FIXTURE)
    picked = pset.subset(np.array([5, 2]))
    np.testing.assert_array_equal(picked.inputs, pset.inputs[[5, 2]])
    np.testing.assert_array_equal(picked.labels, pset.labels[[5, 2]])
    assert len(pset.head(3)) == 3 and picked.source == pset.source


def test_generated_set_is_valid_and_unique():
    pset = sudoku_sets.generate_sudoku_set(5, seed=0, min_clues=25, max_clues=30)
    givens, answers = sudoku.decode(pset.inputs), sudoku.decode(pset.labels)
    assert sudoku.valid_solutions(answers, givens).all()
    assert all(sudoku.count_solutions(g) == 1 for g in givens)
    stats = sudoku_sets.sudoku_stats(pset)
    assert 25 <= stats["clues_min"] <= stats["clues_max"] <= 30


def test_cli_writes_disjoint_train_and_test_splits(tmp_path):
    from cli.data import command

    result = CliRunner().invoke(command, ["sudoku", "--out", str(tmp_path), "--train", "6", "--test", "4",
                                          "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "4 puzzles" in result.output and "clues" in result.output
    train, test = data.read_official(tmp_path, "train"), data.read_official(tmp_path, "test")
    assert (len(train), len(test)) == (6, 4)
    assert not {r.tobytes() for r in train.inputs} & {r.tobytes() for r in test.inputs}
