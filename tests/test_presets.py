"""Named protocols: `--preset adaptive` is the README's adaptive rule, `--preset paper` the paper's fixed D."""
import pytest
from click.testing import CliRunner

from cli.main import main
from ptrm.errors import PtrmError
from ptrm.presets import preset
from ptrm.search import SearchConfig
from ptrm.store import load_run


def searched(tiny_ckpt, out, *args):
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--samples", "2", "--limit", "2",
                                    "--dtype", "float32", "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return load_run(out).manifest["search"]


def test_a_preset_sets_the_rule_and_explicit_options_win(tiny_ckpt, tmp_path):
    adaptive = searched(tiny_ckpt, tmp_path / "a", "--preset", "adaptive")
    assert (adaptive["halt_q"], adaptive["settle"], adaptive["give_up_q"]) == (0.0, 3, -3.0)
    by_hand = searched(tiny_ckpt, tmp_path / "b", "--halt-q", "0", "--settle", "3", "--give-up-q", "-3")
    assert {k: by_hand[k] for k in preset("adaptive")} == {k: adaptive[k] for k in preset("adaptive")}
    mixed = searched(tiny_ckpt, tmp_path / "c", "--preset", "adaptive", "--settle", "5")
    assert (mixed["halt_q"], mixed["settle"]) == (0.0, 5)


def test_the_paper_preset_is_fixed_depth():
    assert SearchConfig(**preset("paper")) == SearchConfig()
    with pytest.raises(PtrmError, match="unknown preset 'fast'"):
        preset("fast")
