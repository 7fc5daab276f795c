"""Every result one command away: specs name the commands, `ptrm reproduce` runs what is missing, the index
of results/ is generated from them and is current."""
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm import reproduce
from ptrm.errors import PtrmError

ROOT = Path(__file__).parent.parent


def write_spec(root: Path, name: str, text: str):
    (root / reproduce.SPECS).mkdir(parents=True, exist_ok=True)
    (root / reproduce.SPECS / f"{name}.yaml").write_text(text)


TOY = """
what: a toy table
steps:
  - run: echo made >> log.txt && mkdir -p out && echo "| a |" > out/table.md
    makes: [out/table.md]
  - run: python -c "print('kept')"
    makes: [out/kept.txt]
    stdout: out/kept.txt
outputs: [out/table.md]
"""


def test_a_spec_runs_what_is_missing_and_skips_what_is_done(tmp_path):
    write_spec(tmp_path, "toy", TOY)
    spec = reproduce.load_specs(tmp_path)["toy"]
    assert len(reproduce.todo(spec, tmp_path)) == 2
    reproduce.run(spec, tmp_path, log=lambda line: None)
    assert (tmp_path / "out/kept.txt").read_text() == "kept\n"
    assert reproduce.todo(spec, tmp_path) == []
    reproduce.run(spec, tmp_path, log=lambda line: None)  # done: nothing runs again
    assert (tmp_path / "log.txt").read_text() == "made\n"


def test_a_step_that_fails_or_makes_nothing_stops_with_one_line(tmp_path):
    write_spec(tmp_path, "bad", "what: x\nsteps:\n  - run: exit 3\n    makes: [a]\noutputs: [a]\n")
    write_spec(tmp_path, "lazy", "what: x\nsteps:\n  - run: 'true'\n    makes: [a]\noutputs: [a]\n")
    specs = reproduce.load_specs(tmp_path)
    with pytest.raises(PtrmError, match=r"bad: step failed \(exit 3\): exit 3"):
        reproduce.run(specs["bad"], tmp_path, log=lambda line: None)
    with pytest.raises(PtrmError, match="lazy: the step did not make a: true"):
        reproduce.run(specs["lazy"], tmp_path, log=lambda line: None)
    write_spec(tmp_path, "broken", "what: x\n")
    with pytest.raises(PtrmError, match="broken.yaml: not an experiment spec"):
        reproduce.load_specs(tmp_path)


def test_a_manifest_counts_for_the_spec_whose_output_folder_is_nearest(tmp_path):
    write_spec(tmp_path, "table", "what: x\nsteps:\n  - run: 'true'\n    makes: [res/table.md]\noutputs: [res/table.md]\n")
    write_spec(tmp_path, "inner", "what: x\nsteps:\n  - run: 'true'\n    makes: [res/inner/t.md]\noutputs: [res/inner/t.md]\n")
    for folder, seconds in (("res/a", 60), ("res/inner/b", 120)):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "manifest.json").write_text(f'{{"wall_seconds": {seconds}, "hardware": "CPU: X"}}')
    specs = reproduce.load_specs(tmp_path)
    assert reproduce.recorded(specs["table"], specs, tmp_path) == (60.0, ["CPU: X"])
    assert reproduce.recorded(specs["inner"], specs, tmp_path) == (120.0, ["CPU: X"])


def test_every_table_and_figure_of_the_specs_is_in_the_repository():
    specs = reproduce.load_specs(ROOT)
    assert {"first-command", "headline", "sigma-curve", "ppbench-table"} <= set(specs)
    missing = [p for spec in specs.values() for p in spec.outputs if not (ROOT / p).exists()]
    assert missing == []
    assert all(reproduce.todo(spec, ROOT) == [] for spec in specs.values())


def test_the_index_of_results_is_current():
    """results/README.md is `ptrm reproduce --index` of today's specs and manifests: rerun it after a change."""
    assert (ROOT / reproduce.INDEX).read_text() == reproduce.index(reproduce.load_specs(ROOT), ROOT)


def test_the_cli_lists_specs_and_names_an_unknown_one(monkeypatch):
    monkeypatch.chdir(ROOT)
    listed = CliRunner().invoke(main, ["reproduce", "--list"])
    assert listed.exit_code == 0 and "headline" in listed.output and "done" in listed.output
    res = CliRunner().invoke(main, ["reproduce", "nope"])
    assert res.exit_code == 2 and res.output.startswith("error: no spec named 'nope'")
