"""Official TRM checkpoints: load with or without all_config.yaml, convert both ways, refuse bad files."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from cli.main import main
from ptrm.checkpoint import load_checkpoint, save_checkpoint
from ptrm.puzzles import PuzzleSet, write_official
from ptrm.errors import PtrmError
from ptrm.model import TRM, TRMConfig
from ptrm.checkpoint import AssumedArchWarning, ExportPrecisionWarning, convert, parse_arch_overrides, save_official
from conftest import deterministic_steps

FIXTURE = Path(__file__).parent / "fixtures" / "trm_official_att"
STEP = FIXTURE / "step_0"



def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def first_steps(ck, steps=2):
    """Logits of the first steps on two fixture puzzles: enough to tell two models apart."""
    inputs = torch.from_numpy(np.load(FIXTURE / "inputs.npy")[:2])
    return deterministic_steps(ck.model, inputs, torch.zeros(2, dtype=torch.int32), steps=steps)["logits"]


def assert_same_file(a, b):
    """Same keys in the same order, same dtypes, bit-identical values."""
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def bare_step(tmp_path, step=STEP) -> Path:
    """A copy of a step file without the all_config.yaml (the usual case for downloaded checkpoints)."""
    (tmp_path / "bare").mkdir(exist_ok=True)
    return Path(shutil.copy(step, tmp_path / "bare" / "step_0"))


def test_fixture_loads_with_the_architecture_of_its_yaml():
    ck = load_checkpoint(STEP)
    official = json.loads((FIXTURE / "model_cfg.json").read_text())
    for key, value in ck.cfg.to_dict().items():
        if key in official:
            assert value == official[key], key
    assert ck.task == "sudoku" and ck.meta["format"] == "official"
    assert ck.meta["arch_source"]["num_heads"] == "all_config.yaml"
    assert ck.meta["arch_source"]["vocab_size"] == "shapes"


def test_attention_without_yaml_needs_num_heads_and_reports_what_it_assumes(tmp_path):
    step = bare_step(tmp_path)
    with pytest.raises(PtrmError, match="pass --arch num_heads=N"):
        load_checkpoint(step)
    with pytest.warns(AssumedArchWarning, match=r"H_cycles=3 \(paper default for sudoku\), L_cycles=6"):
        ck = load_checkpoint(step, arch={"num_heads": 4})
    assert ck.cfg == load_checkpoint(STEP).cfg
    assert torch.equal(first_steps(ck), first_steps(load_checkpoint(STEP)))


def test_official_to_native_to_official_is_identical(tmp_path):
    convert(STEP, tmp_path / "model.pt")
    native = load_checkpoint(tmp_path / "model.pt")
    assert native.meta["converted_from"]["format"] == "official"
    convert(tmp_path / "model.pt", tmp_path / "run" / "step_0")
    assert_same_file(STEP, tmp_path / "run" / "step_0")
    ours = yaml.safe_load((tmp_path / "run" / "all_config.yaml").read_text())
    theirs = yaml.safe_load((FIXTURE / "all_config.yaml").read_text())
    assert {k: ours["arch"][k] for k in theirs["arch"]} == theirs["arch"]
    # Reading our export back needs no flags: the ptrm: section stores what the official yaml lacks.
    assert load_checkpoint(tmp_path / "run" / "step_0").cfg == native.cfg


def test_safetensors_export_and_import(tmp_path):
    convert(STEP, tmp_path / "trm.safetensors")
    ck = load_checkpoint(tmp_path / "trm.safetensors")
    assert ck.cfg == load_checkpoint(STEP).cfg and ck.task == "sudoku"
    assert torch.equal(first_steps(ck), first_steps(load_checkpoint(STEP)))
    convert(tmp_path / "trm.safetensors", tmp_path / "run" / "step_0")
    assert_same_file(STEP, tmp_path / "run" / "step_0")


def export_bare(tmp_path, cfg: TRMConfig, task: str) -> tuple[Path, TRM]:
    """A random native model exported as an official step file, then stripped of its yaml."""
    torch.manual_seed(0)
    model = TRM(cfg).eval()
    for buf in (model.H_init, model.L_init):  # bf16 values, as in official models: the export is then exact
        buf.copy_(buf.bfloat16())
    native = tmp_path / "native.pt"
    save_checkpoint(native, model, task=task)
    save_official(load_checkpoint(native), tmp_path / "run" / "step_5")
    return bare_step(tmp_path, tmp_path / "run" / "step_5"), model


def test_mlp_t_architecture_comes_from_the_shapes(tmp_path):
    cfg = TRMConfig(hidden_size=32, puzzle_emb_ndim=32, L_layers=3, H_cycles=2, L_cycles=3, halt_max_steps=5,
                    mlp_t=True, pos_encodings="none")
    step, model = export_bare(tmp_path, cfg, "sudoku")
    with pytest.warns(AssumedArchWarning, match="L_cycles=6"):  # the paper's, not this model's 3
        assumed = load_checkpoint(step)
    got = assumed.cfg
    assert (got.seq_len, got.puzzle_emb_len, got.L_layers, got.mlp_t, got.pos_encodings) == (81, 16, 3, True, "none")
    # The flags supply what no shape can tell; then the model is the same one.
    ck = load_checkpoint(step, arch=parse_arch_overrides(["H_cycles=2", "L_cycles=3", "halt_max_steps=5"]))
    inputs = torch.from_numpy(np.load(FIXTURE / "inputs.npy")[:2])
    ids = torch.zeros(2, dtype=torch.int32)
    assert torch.equal(deterministic_steps(ck.model, inputs, ids)["logits"],
                       deterministic_steps(model, inputs, ids)["logits"])


def test_maze_task_and_length_come_from_the_vocab(tmp_path):
    cfg = TRMConfig(vocab_size=6, seq_len=900, hidden_size=32, num_heads=2, puzzle_emb_ndim=32, L_layers=1,
                    mlp_t=False, pos_encodings="rope")
    step, _ = export_bare(tmp_path, cfg, "maze")
    with pytest.warns(AssumedArchWarning, match=r"L_cycles=4 \(paper default for maze\)"):
        ck = load_checkpoint(step, arch={"num_heads": 2})
    assert ck.task == "maze" and ck.cfg.seq_len == 900 and ck.cfg.vocab_size == 6


def test_exporting_fp32_init_states_warns_about_rounding(tmp_path):
    model = TRM(TRMConfig(hidden_size=32, puzzle_emb_ndim=32, L_layers=1))  # fp32 H_init, as trained here
    save_checkpoint(tmp_path / "native.pt", model, task="sudoku")
    with pytest.warns(ExportPrecisionWarning, match="rounded to bf16"):
        convert(tmp_path / "native.pt", tmp_path / "run" / "step_1")


def test_convert_cli_infers_the_format_and_refuses_to_overwrite(tmp_path):
    res = cli("convert", STEP, tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    assert "official, task sudoku" in res.output and "attention, 4 heads" in res.output
    res = cli("convert", tmp_path / "m.pt", tmp_path / "out" / "step_9")
    assert res.exit_code == 0 and "all_config.yaml" in res.output
    assert_same_file(STEP, tmp_path / "out" / "step_9")
    res = cli("convert", STEP, tmp_path / "m.pt")
    assert res.exit_code == 2 and "already exists (pass --overwrite" in res.output
    res = cli("convert", STEP, tmp_path / "weights.bin")
    assert res.exit_code == 2 and "--to native|official|safetensors" in res.output
    assert cli("convert", STEP, tmp_path / "weights.bin", "--to", "safetensors").exit_code == 0


def test_eval_cli_takes_arch_flags_for_bare_files(tmp_path):
    step = bare_step(tmp_path)
    res = cli("eval", "--ckpt", step, "--data", tmp_path / "none.csv")
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "--arch num_heads=N" in res.output
    pset_dir = tmp_path / "data"
    write_official(PuzzleSet(np.load(FIXTURE / "inputs.npy"), np.load(FIXTURE / "labels.npy"),
                             np.zeros(8, np.int32), "sudoku", 11, 81, "fixture"), pset_dir, "test")
    with pytest.warns(AssumedArchWarning, match="assumed"):  # printed as one `warning:` line by the CLI
        res = cli("eval", "--ckpt", step, "--arch", "num_heads=4", "--data", pset_dir, "--steps", 2,
                  "--dtype", "float32")
    assert res.exit_code == 0 and "exact accuracy" in res.output, res.output


# ----------------------------------------------------------------------------- bad files

def write_state_dict(tmp_path, sd, yaml_text=None) -> Path:
    """`sd` as <new folder>/step_1, with `yaml_text` as the all_config.yaml beside it if given."""
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    torch.save(sd, folder / "step_1")
    if yaml_text is not None:
        (folder / "all_config.yaml").write_text(yaml_text)
    return folder / "step_1"


def fixture_yaml(**arch) -> str:
    cfg = yaml.safe_load((FIXTURE / "all_config.yaml").read_text())
    cfg["arch"].update(arch)
    return yaml.safe_dump(cfg)


def test_yaml_that_contradicts_the_tensors(tmp_path):
    sd = torch.load(STEP, weights_only=True)
    path = write_state_dict(tmp_path, sd, fixture_yaml(hidden_size=128))
    with pytest.raises(PtrmError, match=r"H_init has shape \(64,\), the config from all_config.yaml "
                                        r"implies \(128,\)"):
        load_checkpoint(path)
    path = write_state_dict(tmp_path, sd, fixture_yaml(expansion=8))
    with pytest.raises(PtrmError, match=r"gate_up_proj.weight has shape \(512, 64\).* implies \(1024, 64\)"):
        load_checkpoint(path)


def test_another_architecture_is_refused_by_name(tmp_path):
    sd = torch.load(STEP, weights_only=True)
    hrm = {**sd, "_orig_mod.model.inner.H_level.layers.0.mlp.down_proj.weight": torch.zeros(64, 256)}
    with pytest.raises(PtrmError, match=r"unexpected key 'H_level.layers.0.mlp.down_proj.weight' \(64, 256\)"):
        load_checkpoint(write_state_dict(tmp_path, hrm, fixture_yaml()))
    with pytest.raises(PtrmError, match="only recursive_reasoning.trm"):
        load_checkpoint(write_state_dict(tmp_path, sd, fixture_yaml(name="hrm@HierarchicalReasoningModel_ACTV1")))
    gpt = {"transformer.wte.weight": torch.zeros(50, 8), "lm_head.weight": torch.zeros(50, 8)}
    with pytest.raises(PtrmError, match=r"no key 'H_init'; not a TRM state dict \(it starts with 'transformer.wte"):
        load_checkpoint(write_state_dict(tmp_path, gpt))


def test_bad_files_are_one_line_errors_with_exit_code_2(tmp_path):
    cut = tmp_path / "step_2"
    cut.write_bytes(STEP.read_bytes()[:100_000])
    convert(STEP, tmp_path / "full.safetensors")
    cut_st = tmp_path / "cut.safetensors"
    cut_st.write_bytes((tmp_path / "full.safetensors").read_bytes()[:100_000])
    wrong_yaml = write_state_dict(tmp_path, torch.load(STEP, weights_only=True), fixture_yaml(hidden_size=32))
    for path, message in ((cut, "not a readable checkpoint"), (cut_st, "not a readable safetensors file"),
                          (wrong_yaml, "H_init has shape (64,)")):
        res = cli("eval", "--ckpt", path)
        assert res.exit_code == 2 and message in res.output
        assert res.output.startswith("error: ") and res.output.count("\n") == 1


def test_arch_overrides_parse_yaml_scalars_and_know_the_fields():
    assert parse_arch_overrides(["num_heads=8", "mlp_t=true", "expansion=2.5"]) == \
        {"num_heads": 8, "mlp_t": True, "expansion": 2.5}
    with pytest.raises(PtrmError, match="unknown field"):
        parse_arch_overrides(["heads=8"])
    with pytest.raises(PtrmError, match="not key=value"):
        parse_arch_overrides(["num_heads"])
