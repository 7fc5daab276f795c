"""Maze task: official tokens, the route checker, the generator, Maze-Hard CSVs, and eval on a maze model."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm import data
from ptrm.puzzles import write_official
from ptrm.tasks.maze import sets as maze_sets
from ptrm.checkpoint import save_checkpoint
from ptrm.errors import PtrmError
from ptrm.model import TRM, TRMConfig
from ptrm.tasks import maze

HEADER = "source,question,answer,rating\n"


@pytest.fixture(scope="module")
def mazes():
    return maze.generate(6, seed=7)


def test_tokens_follow_the_official_charset():
    row = "# SGo" + " " * 895
    tokens = maze.encode(row)
    assert tokens[:6].tolist() == [1, 2, 3, 4, 5, 2] and tokens.shape == (900,)
    assert maze.decode(tokens) == row
    assert maze.decode(np.zeros(900, np.int64))[:3] == "???"  # PAD is not a maze character
    with pytest.raises(PtrmError, match="character 'x' at cell 3"):
        maze.encode("###x" + "#" * 896)
    with pytest.raises(PtrmError, match="899 cells"):
        maze.encode("#" * 899)


def test_generator_is_seeded_and_labels_the_unique_route(mazes):
    questions, labels = mazes
    again = maze.generate(6, seed=7)
    np.testing.assert_array_equal(questions, again[0])
    assert not np.array_equal(questions, maze.generate(6, seed=8)[0])
    assert ((questions == maze.START).sum(1) == 1).all() and (questions != maze.PATH).all()
    assert maze.valid_paths(labels, questions).all()
    for q, label in zip(questions, labels):  # the BFS solver finds the same route
        np.testing.assert_array_equal(maze.solve(q), label)
    assert maze.pretty(labels[0]).count("\n") == 29


def test_checker_accepts_routes_only(mazes):
    questions, labels = mazes
    q, label = questions[0], labels[0]
    route = np.flatnonzero(label == maze.PATH)
    assert len(route) > 2
    gap = label.copy()
    gap[route[len(route) // 2]] = maze.OPEN  # the route is cut in two
    grid = label.reshape(30, 30)  # open cells never touch the border, so r +- 1 and c +- 1 stay inside
    r, c = next((r, c) for r, c in np.argwhere(grid == maze.OPEN)
                if maze.PATH in (grid[r - 1, c], grid[r + 1, c], grid[r, c - 1], grid[r, c + 1]))
    branch = label.copy()
    branch[r * 30 + c] = maze.PATH  # a dead-end spur off the route
    through_wall = label.copy()
    through_wall[np.flatnonzero(q == maze.WALL)[0]] = maze.PATH
    moved_goal = label.copy()
    moved_goal[label == maze.GOAL] = maze.PATH
    answers = np.stack([label, q, gap, branch, through_wall, moved_goal])
    assert maze.valid_paths(answers, np.repeat(q[None], 6, 0)).tolist() == [True, False, False, False, False, False]


def write_csv(path, questions, answers):
    rows = [f"gen,{maze.decode(q)},{maze.decode(a)},0" for q, a in zip(questions, answers)]
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_maze_csv_reads_into_official_tokens_and_round_trips(tmp_path, mazes):
    questions, labels = mazes
    pset = data.load_puzzles(write_csv(tmp_path / "maze.csv", questions, labels))  # the cell count says maze
    assert (pset.task, pset.vocab_size, pset.seq_len) == ("maze", 6, 900)
    np.testing.assert_array_equal(pset.inputs, questions)
    np.testing.assert_array_equal(pset.labels, labels)
    write_official(pset, tmp_path / "official", "test")
    back = data.read_official(tmp_path / "official")
    assert back.task == "maze"
    np.testing.assert_array_equal(back.labels, labels)


def test_maze_csv_errors_name_the_line(tmp_path, mazes):
    questions, labels = mazes
    bad = maze.decode(labels[1])
    path = write_csv(tmp_path / "a.csv", questions[:2], labels[:2])
    path.write_text(path.read_text().replace(bad, bad[:5] + "x" + bad[6:]))
    with pytest.raises(PtrmError, match=r"a.csv:3: answer has character 'x' at cell 5"):
        maze_sets.read_maze_csv(path)
    two_starts = questions[:1].copy()
    two_starts[0, np.flatnonzero(two_starts[0] == maze.OPEN)[0]] = maze.START
    with pytest.raises(PtrmError, match=r"b.csv:2: question has 2 'S' cells"):
        maze_sets.read_maze_csv(write_csv(tmp_path / "b.csv", two_starts, labels[:1]))
    over_wall = labels[:1].copy()
    wall = np.flatnonzero(questions[0] == maze.WALL)[0]
    over_wall[0, wall] = maze.PATH
    with pytest.raises(PtrmError, match=rf"c.csv:2: answer changes the question at cell {wall} \('#' -> 'o'\)"):
        maze_sets.read_maze_csv(write_csv(tmp_path / "c.csv", questions[:1], over_wall))
    short = tmp_path / "d.csv"
    short.write_text(HEADER + "gen,###,###,0\n")
    with pytest.raises(PtrmError, match=r"3 cells is of no task.s CSV: sudoku \(81\), maze \(900\)"):
        data.load_puzzles(short)


def test_eval_runs_on_a_maze_checkpoint_and_reports_valid_routes(tmp_path, mazes):
    torch.manual_seed(0)
    cfg = TRMConfig(vocab_size=6, seq_len=900, hidden_size=16, num_heads=2, puzzle_emb_ndim=16, L_layers=1,
                    H_cycles=1, L_cycles=1, halt_max_steps=2, mlp_t=False, pos_encodings="rope")
    save_checkpoint(tmp_path / "maze.pt", TRM(cfg), task="maze")
    csv = write_csv(tmp_path / "maze.csv", *mazes)
    res = CliRunner().invoke(main, ["eval", "--ckpt", str(tmp_path / "maze.pt"), "--data", str(csv)])
    assert res.exit_code == 0, res.output
    assert "valid S->G paths 0.00%" in res.output  # random weights find no route


def test_data_maze_cli_writes_an_official_layout(tmp_path):
    res = CliRunner().invoke(main, ["data", "maze", "--out", str(tmp_path), "--train", "3", "--test", "2"])
    assert res.exit_code == 0, res.output
    test = data.read_official(tmp_path, "test")
    assert test.task == "maze" and len(test) == 2 and maze.valid_paths(test.labels, test.inputs).all()
    res = CliRunner().invoke(main, ["data", "maze", "--out", str(tmp_path), "--train", "0", "--test", "2"])
    assert res.exit_code == 2 and "already exists" in res.output
