"""The native format: one dict of plain values and tensors, loadable with `torch.load(weights_only=True)`.

Layout (format_version 1):
  format, format_version, model_config (TRMConfig fields), task, vocab_size, seq_len,
  dataset (metadata), test_set (inputs/labels/puzzle_identifiers tensors, so a checkpoint carries its own
  held-out puzzles), train_config, metrics, state_dict (EMA weights).
Resume files add optimizer / raw-weights / step entries; they load the same way.
"""
from pathlib import Path

import numpy as np
import torch

from ptrm.checkpoint.core import Checkpoint, atomic_save, build_model, file_sha256, refuse_existing
from ptrm import tasks
from ptrm.errors import PtrmError
from ptrm.model import TRM, TRMConfig
from ptrm.puzzles import PuzzleSet

FORMAT = "ptrm-checkpoint"
FORMAT_VERSION = 1


def pack_test_set(pset: PuzzleSet) -> dict:
    # int16 keeps -100 (ignored label) and every vocab id; the file stays small.
    return {k: torch.from_numpy(np.ascontiguousarray(getattr(pset, k)).astype(np.int16))
            for k in ("inputs", "labels", "puzzle_identifiers")}


def save_checkpoint(path, model: TRM, task: str, **meta) -> None:
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": model.cfg.to_dict(),
           "task": task, "vocab_size": model.cfg.vocab_size, "seq_len": model.cfg.seq_len, **meta,
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_save(obj, path)


def load_native(path, obj: dict, arch=None, task=None, device=None) -> Checkpoint:
    """A Checkpoint from a native file's dict already read from `path`."""
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
    model = build_model(cfg, sd, path, "its model_config", device)
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "optimizer", "raw_state_dict")}
    return Checkpoint(model=model, task=task or obj.get("task") or tasks.of_shape(cfg.vocab_size, cfg.seq_len), path=str(path),
                      sha256=file_sha256(path), meta=meta)


def save_native(ck: Checkpoint, path, overwrite: bool = False) -> list[Path]:
    """Our checkpoint format; keeps the source's metadata (test set, metrics) and records the conversion."""
    refuse_existing(Path(path), overwrite)
    keep = {k: v for k, v in ck.meta.items() if k not in ("format", "format_version", "model_config",
                                                            "task", "vocab_size", "seq_len")}
    keep["converted_from"] = {"path": ck.path, "sha256": ck.sha256, "format": ck.meta.get("format", "native")}
    save_checkpoint(path, ck.model, ck.task, **keep)
    return [Path(path)]
