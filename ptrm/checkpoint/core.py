"""What every checkpoint format shares: the loaded Checkpoint, reading and writing files, the shape check."""
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ptrm import hardware
from ptrm.puzzles import PuzzleSet
from ptrm.errors import PtrmError
from ptrm.io import atomic_write, file_sha256
from ptrm.model import TRM, TRMConfig


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


def atomic_save(obj, path) -> None:
    """torch.save through io.atomic_write: never a half-written checkpoint."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def read_file(path) -> dict:
    """torch.load with weights_only=True, every failure turned into one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PtrmError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled objects: all the user's file's fault
        raise PtrmError(f"{path}: {_unreadable(e, path)}") from None
    if not isinstance(obj, dict):
        raise PtrmError(f"{path}: checkpoint holds a {type(obj).__name__}, expected a dict")
    return obj


def _unreadable(e: Exception, path) -> str:
    """Why torch.load failed, in one line. For a pickle of Python objects, torch's own message is a page
    of advice that ends in weights_only=False; say what the file holds and the safe way out instead."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
    if isinstance(e, pickle.UnpicklingError) and found:  # other unpickling errors are plain corruption
        return (f"holds Python objects besides tensors ({found.group(1)}); ptrm loads weights only, because unpickling "
                f"objects can run any code. If you trust the file, keep its tensors: python -c \"import torch; "
                f"d = torch.load('{path}', weights_only=False); torch.save({{k: v for k, v in d.items() "
                f"if isinstance(v, torch.Tensor)}}, 'weights.pt')\" and pass weights.pt")
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "Weights only load failed" in first:  # torch's advice on loading objects: beside the point here
        first = "not a torch file, or a corrupt one"
    return f"not a readable checkpoint ({first[:160]})"


def build_model(cfg: TRMConfig, sd: dict, path, origin: str, device=None) -> TRM:
    """TRM(cfg) with `sd` loaded, after checking every key and shape; `origin` names where cfg came from
    in the one-line error a mismatch gives."""
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise PtrmError(f"{path}: its state dict is not a dict of tensors")
    try:
        model = TRM(cfg)
    except Exception as e:  # a field of the wrong type or sign (hidden_size "x", -3): the file's values
        raise PtrmError(f"{path}: {origin} does not describe a TRM ({str(e).splitlines()[0][:160]})") from None
    expected = model.state_dict()
    for k in expected:
        if k not in sd:
            raise PtrmError(f"{path}: missing key {k!r} {tuple(expected[k].shape)} that {origin} implies")
    for k, v in sd.items():
        if k not in expected:
            raise PtrmError(f"{path}: unexpected key {k!r} {tuple(v.shape)}; not part of a TRM "
                            f"({'mlp_t' if cfg.mlp_t else 'attention'}, {cfg.L_layers} layers)")
        if tuple(v.shape) != tuple(expected[k].shape):
            raise PtrmError(f"{path}: {k} has shape {tuple(v.shape)}, {origin} implies {tuple(expected[k].shape)}")
    model.load_state_dict(sd)  # casts official bf16 buffers to our fp32 ones, which is exact
    return model.to(hardware.default_device(device)).eval()


def refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise PtrmError(f"{path}: already exists (pass --overwrite to replace it)")
