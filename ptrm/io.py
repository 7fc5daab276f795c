"""Atomic file writes: write beside the target, then rename, so a reader never sees half a file.

A writer killed mid-write (kill -9, power loss) leaves its temp file `.<name>.<pid>.tmp` behind; the next
write to the same target removes those whose writer is gone, and says so.
"""
import glob
import hashlib
import os
import re
import sys
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
    remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temps(path) -> list[Path]:
    """Delete the temp files of earlier writes to `path` whose process no longer runs; one line each on stderr.

    A temp file of a live process (a concurrent writer, or a recycled pid) is left alone: better a stray
    file than a deleted write in progress.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        m = re.fullmatch(rf"\.{re.escape(path.name)}\.(\d+)\.tmp", tmp.name)
        if m and not pid_alive(int(m.group(1))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            print(f"removed {tmp}: a partial write left by process {m.group(1)}, which is gone", file=sys.stderr)
    return removed


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_npz(path, arrays: dict) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
        np.savez(f, **arrays)


def file_sha256(path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (checkpoints, records)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
