"""safetensors files: ours (weights under the official names, config and task as JSON metadata), or any
safetensors file of official TRM weights (its config inferred as for a `step_N` file)."""
import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ptrm.checkpoint.core import Checkpoint, build_model, file_sha256, refuse_existing
from ptrm.checkpoint.official import load_official
from ptrm.errors import PtrmError
from ptrm.io import atomic_write_bytes
from ptrm.model import TRMConfig

SAFETENSORS_FORMAT = "ptrm-safetensors"


def is_safetensors(path) -> bool:
    """Sniff the header: an 8-byte little-endian length, then a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def load_safetensors(path, arch=None, task=None, device=None) -> Checkpoint:
    path = Path(path)
    data = path.read_bytes()
    try:
        sd = st_load(data)
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    except (SafetensorError, ValueError) as e:
        raise PtrmError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:160]})") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != SAFETENSORS_FORMAT:
        return load_official(path, sd, arch, task, device, meta={"format": "safetensors"})
    try:
        cfg = TRMConfig.from_dict({**json.loads(meta["model_config"]), **(arch or {})})
        task = task or meta["task"]
    except (KeyError, TypeError, ValueError) as e:
        raise PtrmError(f"{path}: bad ptrm metadata ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    model = build_model(cfg, sd, path, "its model_config", device)
    return Checkpoint(model=model, task=task, path=str(path), sha256=file_sha256(path),
                      meta={"format": "safetensors"})


def save_safetensors(ck: Checkpoint, path, overwrite: bool = False) -> list[Path]:
    path = Path(path)
    refuse_existing(path, overwrite)
    tensors = {k: v.detach().cpu().contiguous() for k, v in ck.model.state_dict().items()}
    meta = {"format": SAFETENSORS_FORMAT, "model_config": json.dumps(ck.cfg.to_dict()), "task": ck.task}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))
    return [path]
