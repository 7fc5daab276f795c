"""Selection rules are objects in one registry: a rule defined here, and registered, shows up in the report, the
sweep summary and the width figure without a line of those modules naming it."""
import matplotlib
import numpy as np
import pytest

from ptrm import plots, report, rules
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.search import SearchConfig
from ptrm.store import load_run
from ptrm.sweep import cell_name, cell_table, run_sweep

# One rollout picked at random: what the model gives with no selector at all. Its @k value is a puzzle's mean
# correctness whatever k is (a random member of a random subset is a random rollout).
RANDOM = rules.Rule("random", "random", "tab:gray", select=lambda roll: np.zeros(len(roll.puzzles), int),
                    at_k=lambda roll, k, *_: (roll.correct.mean(axis=1), "exact"))


@pytest.fixture
def with_random(monkeypatch):
    monkeypatch.setitem(rules.REGISTRY, RANDOM.name, RANDOM)


def test_a_new_rule_appears_in_the_report_the_sweep_summary_and_a_plot(with_random, tiny_ckpt, tmp_path):
    out = tmp_path / "sweep"
    run_sweep(load_checkpoint(tiny_ckpt), load_checkpoint(tiny_ckpt).test_set().head(4), [0.5], [2],
              SearchConfig(K=4, dtype="float32"), out, progress=False)
    run = load_run(out / cell_name(0.5, 2))
    mean_correct = 100 * run.records.groupby("puzzle").correct.mean().mean()

    table = report.rule_table(run).set_index("method")
    assert table.at["random@4", "accuracy"] == pytest.approx(mean_correct)
    assert cell_table(out)["random@K"].iloc[0] == pytest.approx(mean_correct)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # legend text stays text in the SVG
        figure = plots.width_scaling(run, tmp_path / "width.svg").read_text()
    assert "random@k" in figure and "verified@k" in figure  # every rule the records support, verified included


def test_one_name_per_rule_and_older_names_still_read(puzzles):
    assert rules.get("oracle") is rules.get("pass")
    assert len({r.name for r in rules.REGISTRY.values()}) == len(rules.REGISTRY)
    with pytest.raises(PtrmError, match="unknown rule 'best'"):
        rules.get("best")


def test_the_official_vote_is_a_pooled_rule_with_no_per_puzzle_estimator():
    vote = rules.get("vote")
    assert vote.pool == ("count", "q_mean") and vote.at_k is None
    assert "vote" not in rules.rules_for(__import__("pandas").DataFrame(columns=["verified"]))
