"""Checkpoints in three formats behind one `load_checkpoint` and one `convert`.

    core            Checkpoint (model + task + metadata), file reading/writing, the one state-dict shape check
    native          our format: a dict of plain values and tensors (weights, config, test set, metrics)
    official        official TRM `step_N` files: config inference, import, export with all_config.yaml
    safetensors_io  safetensors files (ours with config metadata, or bare official weights)

The format of a file is read from its content, never from its name; the format to write is named, or
implied by the destination's name.
"""
import re
from pathlib import Path

from ptrm.checkpoint.core import Checkpoint, atomic_save, read_file
from ptrm.checkpoint.native import load_native, pack_test_set, save_checkpoint, save_native
from ptrm.checkpoint.official import (AssumedArchWarning, ExportPrecisionWarning, is_official_state_dict,
                                      load_official, parse_arch_overrides, save_official)
from ptrm.checkpoint.safetensors_io import is_safetensors, load_safetensors, save_safetensors
from ptrm.errors import PtrmError

WRITERS = {"native": save_native, "official": save_official, "safetensors": save_safetensors}

__all__ = ["Checkpoint", "load_checkpoint", "convert", "WRITERS", "target_format", "save_checkpoint",
           "pack_test_set", "atomic_save", "read_file", "parse_arch_overrides", "save_official",
           "AssumedArchWarning", "ExportPrecisionWarning"]


def load_checkpoint(path, device=None, arch: dict | None = None, task: str | None = None) -> Checkpoint:
    """A native checkpoint, an official TRM `step_N` file or a safetensors file, its model on `device`
    (default: ptrm.hardware.default_device(), CUDA when present).

    `arch` overrides TRMConfig fields (shape-free ones such as H_cycles change the computation; the rest
    must agree with the tensors); `task` names the task where the file cannot tell.
    """
    ck = _load(path, device, arch, task)
    ck.load_kwargs = {"arch": arch, "task": task}
    return ck


def _load(path, device, arch, task) -> Checkpoint:
    if Path(path).is_file() and is_safetensors(path):
        return load_safetensors(path, arch, task, device)
    obj = read_file(path)
    if "format" not in obj and is_official_state_dict(obj):
        return load_official(path, obj, arch, task, device)
    return load_native(path, obj, arch, task, device)


def target_format(dst) -> str | None:
    """The format a destination name implies: *.safetensors, step_<N> (official), *.pt (native)."""
    name = Path(dst).name
    if name.endswith(".safetensors"):
        return "safetensors"
    if re.fullmatch(r"step_\d+", name):
        return "official"
    if name.endswith(".pt"):
        return "native"
    return None


def convert(src, dst, to: str | None = None, arch=None, task=None,
            overwrite: bool = False) -> tuple[Checkpoint, list[Path]]:
    """Load any checkpoint (native, official, safetensors) and write it as `to` (default: implied by dst)."""
    to = to or target_format(dst)
    if to not in WRITERS:
        raise PtrmError(f"{dst}: cannot tell the output format from the name; pass --to native|official|safetensors")
    ck = load_checkpoint(src, arch=arch, task=task)
    return ck, WRITERS[to](ck, dst, overwrite)
