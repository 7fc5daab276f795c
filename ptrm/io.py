"""Atomic file writes: write beside the target, then rename, so a reader never sees half a file."""
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_write(path):
    """Yield a temp path in the target's folder; on success rename it onto `path`, on failure delete it.

    Same folder, so os.replace is a rename on one file system (atomic), never a copy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_npz(path, arrays: dict) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
        np.savez(f, **arrays)
