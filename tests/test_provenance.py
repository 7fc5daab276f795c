"""Every result traceable: the manifest names the command, the code, the checkpoint and the exact puzzles."""
import json
from pathlib import Path

import numpy as np

from ptrm.checkpoint import load_checkpoint
from ptrm.provenance import command_line, data_sha256, missing_fields
from ptrm.runner import run_search
from ptrm.search import SearchConfig

RESULTS = Path(__file__).parent.parent / "results"


def manifest_of(tiny_ckpt, pset, **kw):
    cfg = SearchConfig(K=2, sigma=0.3, dtype="float32")
    return run_search(load_checkpoint(tiny_ckpt), pset, cfg, progress=False, deterministic=False, **kw).manifest


def test_a_search_on_a_slice_names_the_rows_of_the_source_it_searched(tiny_ckpt, puzzles):
    # the puzzles 3-8 of the source, picked first by a script and then narrowed by --offset/--limit
    m = manifest_of(tiny_ckpt, puzzles.subset(np.arange(2, 10)), offset=1, limit=6)
    assert m["data"]["offset"] == 1  # how the records number the puzzles
    assert m["data"]["source_offset"] == 3 and m["data"]["n_puzzles"] == 6
    assert m["data"]["sha256"] == data_sha256(puzzles.subset(slice(3, 9)))
    assert missing_fields(m) == []


def test_rows_picked_one_by_one_are_listed(tiny_ckpt, puzzles):
    m = manifest_of(tiny_ckpt, puzzles.subset(np.array([7, 2, 5])))
    assert m["data"]["source_offset"] is None and m["data"]["source_rows"] == [7, 2, 5]
    assert missing_fields(m) == []


def test_the_manifest_names_the_command_and_the_code(tiny_ckpt, puzzles):
    prov = manifest_of(tiny_ckpt, puzzles)["provenance"]
    assert prov["ptrm"] and "git_commit" in prov and "git_dirty" in prov
    assert command_line(["/usr/bin/ptrm", "search", "--sigma", "0.3"]) == "ptrm search --sigma 0.3"
    assert command_line(["experiments/x.py", "a b"]) == "python experiments/x.py 'a b'"
    del prov["command"]
    assert missing_fields({"provenance": prov})[:1] == ["provenance.command"]


def test_every_manifest_under_results_is_traceable():
    manifests = sorted(RESULTS.rglob("manifest.json"))
    assert manifests, "results/ holds runs"
    gaps = {str(p.relative_to(RESULTS)): missing_fields(json.loads(p.read_text())) for p in manifests}
    assert {path: fields for path, fields in gaps.items() if fields} == {}
