"""Scale: a search streamed over many puzzles keeps its memory flat, and runs over windows (--offset,
--limit) concatenate to the whole run byte for byte (records' `puzzle` is the index in the whole set)."""
import pandas as pd
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm.tasks.sudoku.sets import generate_sudoku_set
from ptrm.puzzles import write_official
from ptrm.store import load_run
from conftest import assert_same_records_across_batches


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def search_cli(ckpt, data, out, *args):
    res = CliRunner().invoke(main, ["search", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out),
                                    "--samples", "2", "--steps", "1", "--sigma", "0.3", "--dtype", "float32",
                                    "--chunk-size", "256", *map(str, args)])
    assert res.exit_code == 0, res.output
    return load_run(out)


def split_equals_whole(tiny_ckpt, tmp_path, n):
    data = tmp_path / "data"
    write_official(generate_sudoku_set(n, seed=5, min_clues=40), data, "test")
    whole = search_cli(tiny_ckpt, data, tmp_path / "whole")
    halves = [search_cli(tiny_ckpt, data, tmp_path / f"half{i}", "--offset", i * n // 2, "--limit", n // 2)
              for i in (0, 1)]
    assert [h.manifest["data"]["offset"] for h in halves] == [0, n // 2]
    joined = pd.concat([h.records for h in halves], ignore_index=True)
    assert_same_records_across_batches(joined, whole.records)  # a half's last batch is not the whole's
    return whole


def test_two_halves_are_the_whole_run(tiny_ckpt, tmp_path):
    whole = split_equals_whole(tiny_ckpt, tmp_path, 200)
    assert len(whole.records) == 400 and whole.records.puzzle.max() == 199


@pytest.mark.slow
def test_ten_thousand_puzzles_stream_in_flat_memory(tiny_ckpt, tmp_path, monkeypatch):
    from ptrm import backends

    samples, real_map = [], backends.LocalBackend.map

    def measured_map(self, pset, items, cfg, plan):  # RSS after every work item
        for records in real_map(self, pset, items, cfg, plan):
            samples.append(rss_mb())
            yield records

    monkeypatch.setattr(backends.LocalBackend, "map", measured_map)
    split_equals_whole(tiny_ckpt, tmp_path, 10_000)
    n = len(samples) // 3  # the whole run came first: start, middle and end of it
    start, middle, end = samples[1], samples[n // 2], samples[n - 1]
    print(f"RSS start {start:.0f} MB, middle {middle:.0f} MB, end {end:.0f} MB")
    assert max(middle, end) <= 1.05 * start
