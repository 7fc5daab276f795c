"""The experiment scripts end to end on tiny models: every table and figure they promise is written, and its
numbers obey the estimators' order (pass@K bounds every selection rule)."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from click.testing import CliRunner

from cli.main import main
from ptrm.checkpoint import save_checkpoint
from ptrm.puzzles import IGNORE_LABEL
from ptrm.model import TRM
from ptrm.store import load_run

from conftest import tiny_config

ROOT = Path(__file__).parent.parent
GOLDEN = ROOT / "results" / "data" / "ppbench" / "golden"


def script(name, *args, cwd):
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / name), *map(str, args)], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_evidence_selects_a_checkpoint_and_writes_every_finding(tiny_ckpt, tmp_path):
    assert CliRunner().invoke(main, ["data", "sudoku", "--out", str(tmp_path / "hard"), "--train", "0",
                                     "--test", "12", "--seed", "1"]).exit_code == 0
    other = tmp_path / "other.pt"
    shutil.copy(tiny_ckpt, other)
    out = tmp_path / "evidence"
    script("evidence.py", "select", tiny_ckpt, other, "--data", tmp_path / "hard", "--offset", 6, "--limit", 4,
           "--K", 2, "--out", out, cwd=tmp_path)
    chosen = (out / "select.md").read_text().split("Chosen: ")[1].split(" (")[0]
    assert chosen in (str(tiny_ckpt), str(other))
    # ... and under the README's stopping rule, kept apart from the fixed-D choice
    script("evidence.py", "select", tiny_ckpt, other, "--data", tmp_path / "hard", "--offset", 6, "--limit", 4,
           "--K", 2, "--adaptive", "--dtype", "float32", "--out", out, cwd=tmp_path)
    assert (out / "select-adaptive.md").read_text().split("Chosen: ")[1].split(" (")[0] in (str(tiny_ckpt), str(other))
    assert "adaptive (halt_q 0.0, settle 3, give_up_q -3.0), at most D=" in (out / "select-adaptive.md").read_text()
    assert (out / "select-adaptive" / "other" / "sigma=0.3_D=4" / "manifest.json").is_file()

    script("evidence.py", "findings", tiny_ckpt, "--limit", 6, "--sweep-limit", 4, "--wide-K", 4, "--out", out,
           "--progress", tmp_path / "progress", cwd=tmp_path)
    text = (out / "findings.md").read_text()
    for section in ("## Headline", "## (a)", "## (e)", "## (c)", "## (d)", "## Limits"):
        assert section in text, section
    rows = pd.read_csv(out / "headline.csv")
    assert list(rows.sigma) == [0.1, 0.3] and (rows["pass"] >= rows["best-Q"]).all() and (rows.n == 6).all()
    assert rows["zL RMS"].between(0.99, 1.01).all()  # post-norm states: absolute sigma is relative sigma
    # the sweep's deterministic run, stored once beside the cells and read by the rows (and by re-runs)
    kept = load_run(tmp_path / "progress" / tiny_ckpt.stem / "deterministic" / "D=4").records
    assert len(kept) == 6 and rows.deterministic.iloc[0] == 100 * kept.correct.sum() / 6
    zL_rms = json.loads((tmp_path / "progress" / tiny_ckpt.stem / "zL_rms.json").read_text())["zL_rms"]
    assert zL_rms == rows["zL RMS"].iloc[0]
    for figure in ("sigma_curve", "depth_vs_width", "width_sigma=0.3", "q_tracking_sigma=0.1"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 0, figure

    # The findings that need no new rollouts, read back from the same finished cells, give the same tables.
    cells = sorted((tmp_path / "progress" / tiny_ckpt.stem).glob("sigma=*"))
    script("evidence.py", "read", *cells, "--out", tmp_path / "read", "--wide-K", 4, cwd=tmp_path)
    read = (tmp_path / "read" / "findings.md").read_text()
    assert read[read.index("## (a)"):read.index("## Limits")].rstrip() == text[text.index("## (a)"):
                                                                             text.index("## (c)")].rstrip()
    # Finding (c) read back from the sweep's cells and the heads of the headline cells is the same table.
    script("evidence.py", "curve", *sorted((out / "sigma").glob("sigma=*")), *cells, "--limit", 4, "--K", 32,
           "--out", tmp_path / "curve", cwd=tmp_path)
    section = lambda t: t[t.index("## (c)"):t.index("peaks at sigma")]
    assert section((tmp_path / "curve" / "sigma.md").read_text()) == section(text)
    assert (tmp_path / "curve" / "figures" / "sigma_curve.png").stat().st_size > 0
    # Finding (d) read back from the deep run alone: its D=2N and D=4N columns are the findings' (the D=N
    # column there comes from the wider K=64 run, whose @k estimates average over more rollouts).
    script("evidence.py", "depth", *(out / "depth").glob("sigma=*"), "--out", tmp_path / "depth", cwd=tmp_path)
    columns = lambda t: [row.split(" | ")[2:4] for row in t[t.index("## (d)"):].split("\n## ")[0].splitlines()
                         if row[2:3].isdigit()]
    assert columns((tmp_path / "depth" / "depth.md").read_text()) == columns(text)
    assert len(columns(text)) == 5 and (tmp_path / "depth" / "figures" / "depth_vs_width.png").stat().st_size > 0
    # ... and the puzzles none of their rollouts solves, searched again with 4 rollouts each
    solved = [pd.read_parquet(c / "records.parquet").groupby("puzzle").correct.any() for c in cells]
    unsolved = [tuple(s.index[~s.to_numpy()]) for s in solved]
    limits = re.search(r"## Limits: the (\d+) puzzles no rollout of the K=64 run solves at K=4", read)
    searched = re.search(r"solved by none of 4 rollouts: test puzzles ([\d, ]+|none) \(of ([\d, ]+);", read)
    ids = tuple(int(i) for i in searched[2].split(", "))  # named in the test set's numbering
    assert ids in unsolved and int(limits[1]) == len(ids)
    assert searched[1] == "none" or set(map(int, searched[1].split(", "))) <= set(ids)


def test_progress_pairs_each_snapshot_with_the_next(tmp_path):
    snapshots = [ROOT / "results" / "checkpoints" / "long" / f"step-{step:06d}.pt" for step in (5000, 7500, 10000)]
    out = tmp_path / "progress"
    script("progress.py", *snapshots, "--limit", 8, "--K", 2, "--sigmas", 0.3, "--adaptive", "--out", out,
           "--figure", tmp_path / "progress.png", cwd=tmp_path)
    summary = pd.read_csv(out / "summary.csv").set_index(pd.Series(["5k", "7.5k", "10k"]))
    assert list(summary.step) == [5000, 7500, 10000] and summary.data_sha256.nunique() == 1
    moved = pd.read_csv(out / "paired.csv")
    assert list(zip(moved["from"], moved["to"])) == [("step-005000", "step-007500"), ("step-007500", "step-010000"),
                                                     ("step-005000", "step-010000")]
    # Over the same puzzles the mean paired change is the change in the means; its interval holds it.
    for (_, row), (a, b) in zip(moved.iterrows(), [("5k", "7.5k"), ("7.5k", "10k"), ("5k", "10k")]):
        assert abs(row["best-Q@2 change"] - (summary["best-Q"][b] - summary["best-Q"][a])) < 1e-9
        assert row.ci_low <= row["best-Q@2 change"] <= row.ci_high
    assert (tmp_path / "progress.png").stat().st_size > 0


def test_ppbench_table_names_each_type_with_intervals(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "pp.pt"
    save_checkpoint(ckpt, TRM(tiny_config(vocab_size=395, seq_len=100, num_puzzle_identifiers=6)), task="ppbench",
                    metrics={})
    data = tmp_path / "data"
    for split in ("golden", "heldout"):  # golden puzzles stand in for the generated held-out ones here
        shutil.copytree(GOLDEN, data / split)
    script("ppbench.py", ckpt, "--data", data, "--types", "lightup,tapa", "--limit", 3, "--K", 4, "--D", 3,
           "--sigmas", "0.5", "--curve-limit", 2, "--curve-K", 2, "--out", tmp_path / "out", cwd=tmp_path)
    table = pd.read_csv(tmp_path / "out" / "table.csv")
    assert list(zip(table.type, table.set)) == [("lightup", "heldout"), ("tapa", "heldout"), ("all", "heldout"),
                                                ("lightup", "golden"), ("tapa", "golden"), ("all", "golden")]
    assert (table["pass"] >= table["verified"]).all() and (table.n[table.type == "all"] == 6).all()
    assert "lightup" in (tmp_path / "out" / "table.md").read_text()
    curve = pd.read_csv(tmp_path / "out" / "sigma_curve.csv")
    assert sorted(set(curve.sigma)) == [0.0, 0.2, 0.5]


def test_per_clue_guess_answers_each_clue_with_its_most_frequent_answer(tmp_path):
    spec = importlib.util.spec_from_file_location("ppbench_guess", ROOT / "experiments" / "ppbench_guess.py")
    guess_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guess_module)
    inputs = np.array([[1, 1, 2], [1, 2, 3]])
    labels = np.array([[5, 5, 6], [4, IGNORE_LABEL, 7]])
    guess = guess_module.per_clue_guess(inputs, labels)
    # clue 1: answer 5 twice, 4 once; clue 2: an ignored label counts for nothing
    assert (guess[1], guess[2], guess[3]) == (5, 6, 7)
    assert guess[0] == 5  # a clue never seen: the most frequent answer of all
    # ... and the script's table on the golden puzzles, fitted on some and scored on others
    shutil.copytree(GOLDEN, tmp_path / "heldout")
    out = script("ppbench_guess.py", "--data", tmp_path, "--types", "lightup,tapa", "--fit", "4:8", "--score", "0:4",
                 cwd=tmp_path)
    assert re.search(r"\| lightup \| 4 \| \d+\.\d+ \|", out) and "| tapa | 4 |" in out


def test_extend_adds_the_rollouts_a_wider_run_has(tiny_ckpt, tmp_path):
    """modes.py extend runs rollouts k >= K of a run's low-Q puzzles (and, --after an earlier extend, goes on from
    there): the run plus them is the wider run on those puzzles, so adaptive width can be simulated from them."""
    def run(K, out):
        res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--samples", str(K), "--sigma", "0.3",
                                        "--limit", "3", "--dtype", "float32", "--out", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        return load_run(out).records
    narrow, wide = run(2, tmp_path / "k2"), run(6, tmp_path / "k6")
    script("modes.py", "extend", tmp_path / "k2", "--K", 4, "--q-threshold", 1e9, "--out", tmp_path / "e4",
           cwd=tmp_path)
    script("modes.py", "extend", tmp_path / "k2", "--K", 6, "--q-threshold", 1e9, "--after", tmp_path / "e4",
           "--out", tmp_path / "e6", cwd=tmp_path)
    assert json.loads((tmp_path / "e6" / "run.json").read_text())["K_from"] == 4
    grown = pd.concat([narrow, *(pd.read_parquet(tmp_path / e / "records.parquet") for e in ("e4", "e6"))])
    grown = grown.sort_values(["puzzle", "k"]).reset_index(drop=True)[wide.columns]
    pd.testing.assert_frame_equal(grown, wide, check_exact=False, rtol=1e-5)  # q to fp32 rounding across batches
