"""Checkpoint files: one dict of plain values and tensors, loadable with `torch.load(weights_only=True)`.

Native layout (format_version 1):
  format, format_version, model_config (TRMConfig fields), task, vocab_size, seq_len,
  dataset (metadata), test_set (inputs/labels/puzzle_identifiers tensors, so a checkpoint carries its own
  held-out puzzles), train_config, metrics, state_dict (EMA weights).
Resume files add optimizer / raw-weights / step entries; they load the same way.
`load_checkpoint` also reads official TRM `step_N` files and safetensors files (ptrm.official).
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ptrm.data import PuzzleSet
from ptrm.errors import PtrmError
from ptrm.io import atomic_write
from ptrm.model import TRM, TRMConfig

FORMAT = "ptrm-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    model: TRM
    task: str
    path: str
    sha256: str
    meta: dict = field(default_factory=dict)  # everything in the file except the weights
    load_kwargs: dict = field(default_factory=dict)  # arch/task given to load_checkpoint: how to load it again

    @property
    def cfg(self) -> TRMConfig:
        return self.model.cfg

    def test_set(self) -> PuzzleSet:
        ts = self.meta.get("test_set")
        if ts is None:
            raise PtrmError(f"{self.path}: checkpoint carries no test set; pass --data")
        return PuzzleSet(
            inputs=ts["inputs"].numpy().astype(np.int32),
            labels=ts["labels"].numpy().astype(np.int32),
            puzzle_identifiers=ts["puzzle_identifiers"].numpy().astype(np.int32),
            task=self.task, vocab_size=self.cfg.vocab_size, seq_len=self.cfg.seq_len,
            source=f"{self.path}#test_set",
        )


def pack_test_set(pset: PuzzleSet) -> dict:
    # int16 keeps -100 (ignored label) and every vocab id; the file stays small.
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(pset, k)).astype(np.int16))
            for k in ("inputs", "labels", "puzzle_identifiers")}


def atomic_save(obj, path) -> None:
    """torch.save to a temp file in the same folder, then rename: never a half-written checkpoint."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(path, model: TRM, task: str, **meta) -> None:
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": model.cfg.to_dict(),
           "task": task, "vocab_size": model.cfg.vocab_size, "seq_len": model.cfg.seq_len, **meta,
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_save(obj, path)


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_file(path) -> dict:
    """torch.load with weights_only=True, every failure turned into one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PtrmError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled objects: all the user's file's fault
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PtrmError(f"{path}: not a readable checkpoint ({first[:160]})") from None
    if not isinstance(obj, dict):
        raise PtrmError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a dict")
    return obj


def build_model(cfg: TRMConfig, state_dict: dict, path) -> TRM:
    model = TRM(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise PtrmError(f"{path}: state dict does not match the model config ({what})")
    for k, v in state_dict.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise PtrmError(f"{path}: {k} has shape {tuple(v.shape)}, config expects {tuple(expected[k].shape)}")
    model.load_state_dict(state_dict)
    return model.eval()


def load_checkpoint(path, device=None, arch: dict | None = None, task: str | None = None) -> Checkpoint:
    """A native checkpoint, an official TRM `step_N` file or a safetensors file (see ptrm.official).

    `arch` overrides TRMConfig fields (shape-free ones such as H_cycles change the computation; the rest
    must agree with the tensors); `task` names the task where the file cannot tell.
    """
    ck = _load(path, device, arch, task)
    ck.load_kwargs = {"arch": arch, "task": task}
    return ck


def _load(path, device, arch, task) -> Checkpoint:
    from ptrm import official  # it builds on this module

    if Path(path).is_file() and official.is_safetensors(path):
        return official.load_safetensors(path, arch, task, device)
    obj = read_file(path)
    if "format" not in obj and official.is_official_state_dict(obj):
        return official.load_official(path, obj, arch, task, device)
    if obj.get("format") != FORMAT:
        raise PtrmError(f"{path}: neither a ptrm checkpoint (no 'format: {FORMAT}' entry) nor an official "
                        f"TRM state dict (a dict of tensors only)")
    if obj.get("format_version", 0) > FORMAT_VERSION:
        raise PtrmError(f"{path}: format_version {obj['format_version']} is newer than this ptrm reads ({FORMAT_VERSION})")
    try:
        cfg = TRMConfig.from_dict({**obj["model_config"], **(arch or {})})
        sd = obj["state_dict"]
    except (KeyError, TypeError) as e:
        raise PtrmError(f"{path}: checkpoint lacks entry {e}") from None
    model = build_model(cfg, sd, path)
    if device is not None:
        model.to(device)
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "optimizer", "raw_state_dict")}
    return Checkpoint(model=model, task=task or obj.get("task", "sudoku"), path=str(path),
                      sha256=file_sha256(path), meta=meta)
