"""Official TRM checkpoints (SamsungSAILMontreal/TinyRecursiveModels): import and export.

An official checkpoint is a bare state dict saved as `<run>/step_<N>`, keys prefixed `_orig_mod.model.inner.`
(torch.compile on) or `model.inner.` (off), H_init/L_init stored in bf16. Its architecture comes, per field,
from the first source that has it:
  1. explicit overrides (`--arch key=value`, official field names = TRMConfig names),
  2. `all_config.yaml` beside the file (its `arch:` section; plus our `ptrm:` section when we wrote it),
  3. the tensor shapes: hidden_size (H_init), vocab_size (lm_head rows), num_puzzle_identifiers and
     puzzle_emb_ndim (puzzle_emb), mlp_t vs attention (key names), L_layers (layer indices), learned
     positions (embed_pos), expansion (SwiGLU widths); seq_len is the task's (given, or implied by the
     vocab when one registered task has it, see ptrm.tasks), and the mlp_t rows (= seq_len + puzzle_emb_len) give the other,
  4. documented defaults, each reported in a warning: puzzle_emb_len 16 and, for attention, rope (the
     official trm.yaml defaults); H_cycles/L_cycles/halt_max_steps from the paper's run for the task
     (its Task.paper_cycles). num_heads has no default: attention without a yaml needs --arch num_heads=N.
The task is `--task`, else the `ptrm:` section, else implied by (vocab, seq_len) (ptrm.tasks.of_shape).
Every tensor is then checked against the model the config implies; a mismatch is a one-line error naming
the key and both shapes.
"""
import re
import warnings
from pathlib import Path

import torch
import yaml

from ptrm.checkpoint.core import Checkpoint, atomic_save, build_model, file_sha256, refuse_existing
from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.model import TRM, TRMConfig, swiglu_inter
from ptrm import tasks

EXPORT_PREFIX = "_orig_mod.model.inner."
# Wrappers around the official inner model, outermost first: torch.compile, the loss head, the ACT wrapper.
_WRAPPERS = ("_orig_mod.", "model.", "inner.")
_BF16_BUFFERS = ("H_init", "L_init")  # stored in the official forward dtype
_OFFICIAL_DEFAULTS = dict(puzzle_emb_len=16, pos_encodings="rope")
_ARCH_FIELDS = set(TRMConfig.__dataclass_fields__)


class AssumedArchWarning(UserWarning):
    """An architecture field was neither given nor stored nor inferable, so a documented default was used."""


class ExportPrecisionWarning(UserWarning):
    """An export had to round values to the dtype of the target format."""


# ----------------------------------------------------------------------------- overrides

def parse_arch_overrides(items) -> dict:
    """`["num_heads=8", "mlp_t=true"]` -> {"num_heads": 8, "mlp_t": True} (values parsed as YAML scalars)."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise PtrmError(f"--arch {item!r} is not key=value")
        if key not in _ARCH_FIELDS:
            raise PtrmError(f"--arch {key}: unknown field (known: {', '.join(sorted(_ARCH_FIELDS))})")
        out[key] = yaml.safe_load(value)
    return out


# ----------------------------------------------------------------------------- reading

def is_official_state_dict(obj) -> bool:
    """A bare dict of tensors (ours always carry a `format` entry)."""
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def strip_prefix(sd: dict, path) -> dict:
    """Drop the official wrapper prefixes, which must be the same on every key."""
    prefix = ""
    first = next(iter(sd))
    for wrapper in _WRAPPERS:
        if first.startswith(prefix + wrapper):
            prefix += wrapper
    bad = [k for k in sd if not k.startswith(prefix)]
    if bad:
        raise PtrmError(f"{path}: key {bad[0]!r} lacks the prefix {prefix!r} of {first!r}")
    return {k[len(prefix):]: v for k, v in sd.items()}


def read_config_yaml(path) -> dict:
    """`all_config.yaml` beside a checkpoint file as a dict ({} when absent)."""
    file = Path(path).with_name("all_config.yaml")
    if not file.is_file():
        return {}
    try:
        cfg = yaml.safe_load(file.read_text())
    except yaml.YAMLError as e:
        raise PtrmError(f"{file}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("arch"), dict):
        raise PtrmError(f"{file}: has no 'arch:' section")
    name = cfg["arch"].get("name", "")
    if "trm@" not in name:  # e.g. HRM's hrm@HierarchicalReasoningModel_ACTV1
        raise PtrmError(f"{file}: arch.name is {name!r}; only recursive_reasoning.trm models are supported")
    return cfg


def _shape(sd, key, path) -> tuple:
    if key not in sd:
        some = ", ".join(f"{k!r} {tuple(v.shape)}" for k, v in list(sd.items())[:3])
        raise PtrmError(f"{path}: no key {key!r}; not a TRM state dict (it starts with {some})")
    return tuple(sd[key].shape)


class _Fields:
    """The config being inferred: each field's value and the source it came from (the first to give it)."""

    def __init__(self):
        self.values, self.source, self.assumed = {}, {}, []

    def __contains__(self, key) -> bool:
        return key in self.values

    def __getitem__(self, key):
        return self.values[key]

    def put(self, key, value, src, assumed: bool = False):
        if key not in self.values:
            self.values[key], self.source[key] = value, src
            if assumed:
                self.assumed.append(key)


def infer_config(sd: dict, path, arch: dict | None = None, task: str | None = None,
                 config_yaml: dict | None = None) -> tuple[TRMConfig, str, dict]:
    """(config, task, source of each field) for a prefix-stripped official state dict; see the module doc."""
    config_yaml = config_yaml or {}
    task = task or config_yaml.get("ptrm", {}).get("task")
    f = _Fields()
    for key, value in (arch or {}).items():
        f.put(key, value, "override")
    for section in ("ptrm", "arch"):  # our ptrm: section, where we wrote one, wins
        for key, value in config_yaml.get(section, {}).items():
            if key in _ARCH_FIELDS:
                f.put(key, value, "all_config.yaml")
    _read_shapes(f, sd, path)
    _infer_lengths(f, sd, path, task)
    task = task or tasks.of_shape(f["vocab_size"], f["seq_len"])
    if task is None:
        raise PtrmError(f"{path}: vocab {f['vocab_size']} and seq_len {f['seq_len']} match no known "
                        f"task; pass --task")
    _fill_run_defaults(f, path, task)
    if "expansion" not in f:
        f.put("expansion", _infer_expansion(sd, f, path), "shapes")
    cfg = TRMConfig.from_dict(f.values)
    if not cfg.mlp_t and (cfg.hidden_size % cfg.num_heads or (cfg.hidden_size // cfg.num_heads) % 2):
        raise PtrmError(f"{path}: hidden_size {cfg.hidden_size} does not split into {cfg.num_heads} heads "
                        f"of even size; check num_heads")
    if f.assumed:
        warnings.warn(f"{path}: assumed " + ", ".join(f"{k}={f[k]} ({f.source[k]})" for k in f.assumed)
                      + "; pass --arch key=value if the run used other values", AssumedArchWarning, stacklevel=2)
    return cfg, task, f.source


def _read_shapes(f: _Fields, sd: dict, path) -> None:
    """The fields the tensor shapes and key names tell directly."""
    f.put("hidden_size", _shape(sd, "H_init", path)[0], "shapes")
    f.put("vocab_size", _shape(sd, "lm_head.weight", path)[0], "shapes")
    if "puzzle_emb.weights" in sd:
        ids, ndim = sd["puzzle_emb.weights"].shape
        f.put("num_puzzle_identifiers", ids, "shapes")
        f.put("puzzle_emb_ndim", ndim, "shapes")
    else:
        f.put("puzzle_emb_ndim", 0, "shapes")
    f.put("mlp_t", any(".mlp_t." in k for k in sd), "shapes")
    layers = {int(m.group(1)) for k in sd if (m := re.match(r"L_level\.layers\.(\d+)\.", k))}
    if not layers:
        raise PtrmError(f"{path}: no 'L_level.layers.<i>.' keys; not a TRM state dict")
    f.put("L_layers", max(layers) + 1, "shapes")
    if "embed_pos.embedding_weight" in sd:
        f.put("pos_encodings", "learned", "shapes")
    elif f["mlp_t"]:
        f.put("pos_encodings", "none", "shapes")  # the official MLP runs; RoPE would be unused anyway


def _infer_lengths(f: _Fields, sd: dict, path, task: str | None) -> None:
    """seq_len and puzzle_emb_len. The token-mixing MLP (or learned positions) sees seq_len + puzzle_emb_len
    rows; attention shapes do not depend on it, so then only the task (given, or implied by vocab) tells."""
    # The official code reads puzzle_emb_len 0 as "as many prefix tokens as the embedding needs".
    if "puzzle_emb_len" in f and f["puzzle_emb_len"] == 0:
        f.values["puzzle_emb_len"] = -(f["puzzle_emb_ndim"] // -f["hidden_size"])
    total = None
    if f["mlp_t"]:
        total = _shape(sd, "L_level.layers.0.mlp_t.down_proj.weight", path)[0]
    elif "embed_pos.embedding_weight" in sd:
        total = sd["embed_pos.embedding_weight"].shape[0]
    vocab_task = tasks.REGISTRY.get(task or tasks.of_vocab(f["vocab_size"]))
    if "seq_len" not in f:
        if total is not None and "puzzle_emb_len" in f:
            f.put("seq_len", total - f["puzzle_emb_len"], "shapes")
        elif vocab_task is not None:
            f.put("seq_len", vocab_task.seq_len, f"task {vocab_task.name}")
        elif total is not None:
            f.put("puzzle_emb_len", _OFFICIAL_DEFAULTS["puzzle_emb_len"], "default", assumed=True)
            f.put("seq_len", total - f["puzzle_emb_len"], "shapes")
        else:
            raise PtrmError(f"{path}: cannot infer seq_len of an attention model with vocab {f['vocab_size']}; "
                            f"pass --arch seq_len=N or --task {'|'.join(tasks.REGISTRY)}")
    if total is not None:
        f.put("puzzle_emb_len", total - f["seq_len"], "shapes")
    for key, value in _OFFICIAL_DEFAULTS.items():
        f.put(key, value, "default", assumed=True)
    if f["puzzle_emb_len"] < 0 or f["puzzle_emb_len"] * f["hidden_size"] < f["puzzle_emb_ndim"]:
        raise PtrmError(f"{path}: seq_len {f['seq_len']} leaves {f['puzzle_emb_len']} prefix tokens, too few "
                        f"for the puzzle embedding; pass --arch seq_len=N or puzzle_emb_len=N")


def _fill_run_defaults(f: _Fields, path, task: str) -> None:
    """The recursion counts (from the paper's run for the task) and num_heads: nothing in the tensors."""
    for key, value in getattr(tasks.REGISTRY.get(task), "paper_cycles", {}).items():
        f.put(key, value, f"paper default for {task}", assumed=True)
    for key in ("H_cycles", "L_cycles", "halt_max_steps"):
        if key not in f:
            raise PtrmError(f"{path}: {key} is not stored and task {task!r} has no paper default; pass --arch {key}=N")
    if "num_heads" not in f:
        if not f["mlp_t"]:
            raise PtrmError(f"{path}: num_heads of an attention model cannot be read from tensor shapes and "
                            f"there is no all_config.yaml beside it; pass --arch num_heads=N")
        f.put("num_heads", 8, "unused by mlp_t")  # official default; only attention reads it


def _infer_expansion(sd, f: _Fields, path) -> float:
    """The SwiGLU expansion: any e whose width rule gives the stored widths builds the same model;
    prefer the official 4, else the smallest quarter step that fits."""
    inter = _shape(sd, "L_level.layers.0.mlp.gate_up_proj.weight", path)[0] // 2
    inter_t = None
    if f["mlp_t"]:
        inter_t = _shape(sd, "L_level.layers.0.mlp_t.gate_up_proj.weight", path)[0] // 2
    total = f["seq_len"] + f["puzzle_emb_len"]
    for e in [4.0] + [k / 4 for k in range(1, 65)]:
        if swiglu_inter(f["hidden_size"], e) == inter and (
                inter_t is None or swiglu_inter(total, e) == inter_t):
            return e
    raise PtrmError(f"{path}: SwiGLU width {inter} (hidden {f['hidden_size']}) fits no expansion "
                    f"under the official rule round(e*w*2/3) rounded up to 256")


def _origin(source: dict) -> str:
    """Where the config came from, for shape errors: what the user gave beats what we inferred."""
    given = sorted({s.replace("override", "--arch") for s in source.values() if s in ("override", "all_config.yaml")})
    return "the config from " + " and ".join(given) if given else "the inferred config"


def load_official(path, sd: dict, arch=None, task=None, device=None, meta=None) -> Checkpoint:
    """A Checkpoint from an official state dict already read from `path` (see ptrm.checkpoint.load_checkpoint)."""
    sd = strip_prefix(sd, path)
    cfg, task, source = infer_config(sd, path, arch, task, read_config_yaml(path))
    model = build_model(cfg, sd, path, _origin(source), device)
    meta = {"format": "official", "arch_source": source, **(meta or {})}
    return Checkpoint(model=model, task=task, path=str(path), sha256=file_sha256(path), meta=meta)


# ----------------------------------------------------------------------------- writing

def official_state_dict(model: TRM) -> dict:
    """Our weights under the official names and dtypes, in the official file order (H_init, L_init first)."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    init = {k: sd.pop(k) for k in _BF16_BUFFERS}
    ordered = {k: v.to(torch.bfloat16) for k, v in init.items()}
    if any(not torch.equal(ordered[k].float(), init[k].float()) for k in _BF16_BUFFERS):
        warnings.warn("H_init/L_init rounded to bf16, the dtype official checkpoints store them in; outputs can "
                      "differ slightly from the fp32 original", ExportPrecisionWarning, stacklevel=2)
    ordered.update(sd)
    return {EXPORT_PREFIX + k: v.clone() for k, v in ordered.items()}


def official_config(cfg: TRMConfig, task: str, train_config: dict | None = None) -> dict:
    """`all_config.yaml` content: the official arch section, the fields the official PretrainConfig
    requires (our training values where they map, else the paper's), and a `ptrm:` section with what the
    official yaml leaves to dataset.json, so that reading it back needs no flags."""
    t = train_config or {}
    betas = t.get("betas", (0.9, 0.95))
    arch = dict(name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
                loss=dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
                halt_exploration_prob=t.get("halt_exploration_prob", 0.1), halt_max_steps=cfg.halt_max_steps,
                H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles, H_layers=0, L_layers=cfg.L_layers,
                hidden_size=cfg.hidden_size, num_heads=cfg.num_heads, expansion=cfg.expansion,
                puzzle_emb_ndim=cfg.puzzle_emb_ndim, pos_encodings=cfg.pos_encodings,
                forward_dtype="bfloat16", mlp_t=cfg.mlp_t, puzzle_emb_len=cfg.puzzle_emb_len,
                no_ACT_continue=True, rms_norm_eps=cfg.rms_norm_eps, rope_theta=cfg.rope_theta)
    constant = t.get("lr_schedule", "constant") == "constant"
    return dict(
        arch=arch, data_paths=[t["train_data"]] if t.get("train_data") else [], data_paths_test=[],
        global_batch_size=t.get("batch_size", 768), epochs=50000, lr=t.get("lr", 1e-4),
        lr_min_ratio=1.0 if constant else t.get("lr_min_ratio", 1.0),
        lr_warmup_steps=t.get("lr_warmup_steps", 2000), weight_decay=t.get("weight_decay", 1.0),
        beta1=betas[0], beta2=betas[1], puzzle_emb_lr=1e-4, puzzle_emb_weight_decay=1.0,
        ema=True, ema_rate=t.get("ema_rate", 0.999), seed=t.get("seed", 0),
        ptrm=dict(task=task, vocab_size=cfg.vocab_size, seq_len=cfg.seq_len,
                  num_puzzle_identifiers=cfg.num_puzzle_identifiers))


def save_official(ck: Checkpoint, path, overwrite: bool = False) -> list[Path]:
    """Write `path` (conventionally `<dir>/step_<N>`) and `all_config.yaml` beside it; returns both paths.
    An existing yaml with other content (another run's) is only replaced with `overwrite`."""
    path = Path(path)
    yaml_path = path.with_name("all_config.yaml")
    text = yaml.safe_dump(official_config(ck.cfg, ck.task, ck.meta.get("train_config")), sort_keys=False)
    refuse_existing(path, overwrite)
    if yaml_path.exists() and yaml_path.read_text() != text and not overwrite:
        raise PtrmError(f"{yaml_path}: exists with a different config (pass --overwrite to replace it)")
    atomic_save(official_state_dict(ck.model), path)
    atomic_write_text(yaml_path, text)
    return [path, yaml_path]
