"""A run folder has one writer at a time and never loses a finished run.

    OUT/.lock                 held (fcntl) by the process writing OUT for as long as it runs; holds its pid
    OUT/parts/                the finished work items of a run in progress (PartStore), with its settings
    OUT/records.parquet, OUT/manifest.json    a finished run (ptrm.store; the manifest, last, hashes the records)
    .OUT.new-<pid>/, .OUT.old-<pid>/          beside OUT only while a finished run is being replaced

`claim` is how a command starts writing OUT: it creates the folder (so an unwritable path is refused before
any work), takes the lock, and refuses a folder that holds another run unless asked to `--resume` or
`--overwrite` it. A replaced run is swapped out only once the new one is whole (`swap`), so a full disk or a
kill -9 loses at most the new work; `tidy` puts back a run left outside its folder by a swap cut short.
"""
import fcntl
import glob
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write, atomic_write_text, pid_alive
from ptrm.search import WorkItem

LOCK, PARTS, MANIFEST = ".lock", "parts", "manifest.json"


def unique_name(parent, prefix: str) -> Path:
    """A default run folder `parent/prefix-<time>-<random>`: two runs started in the same second differ."""
    return Path(parent) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def probe_writable(folder) -> Path:
    """Create `folder` (and its parents) and write a byte in it, or refuse in one line: before any work."""
    folder = Path(folder)
    first_new = _first_missing(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".probe-") as f:
            f.write(b"\0")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if first_new is not None and first_new.is_dir():  # made here: not left behind
            shutil.rmtree(first_new, ignore_errors=True)
        raise PtrmError(f"{folder}: cannot write here ({e.strerror or e})") from None
    return folder


def probe_file(path) -> Path:
    """An output file's folder is writable and the path is not a folder: checked before the work that fills it."""
    path = Path(path)
    if path.is_dir():
        raise PtrmError(f"{path}: is a folder; name a file")
    probe_writable(path.parent)
    return path


@contextmanager
def lock(out):
    """Hold OUT/.lock for the duration; a second writer is refused naming the holder's pid.

    The folder is created here (the probe for writing); if this call created it and the body fails before
    any work is kept, it is removed again. The lock file is removed on release; a writer that locked a file
    just removed sees it is no longer OUT/.lock and retries.
    """
    out = Path(out)
    tidy(out)
    with output_folder(out, empty=lambda folder: not holds_work(folder)):
        with _held(out / LOCK):
            yield out


@contextmanager
def output_folder(folder, empty=lambda folder: not any(folder.iterdir())):
    """Create `folder` and probe it for writing before any work; if this call created it and the body fails
    leaving it `empty`, remove it again, so a refused or failed command leaves nothing behind."""
    folder = Path(folder)
    first_new = _first_missing(folder)
    probe_writable(folder)
    try:
        yield folder
    except BaseException:
        if first_new is not None and folder.is_dir() and empty(folder):
            shutil.rmtree(first_new, ignore_errors=True)  # with the parents made for it
        raise


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet: what creating `folder` creates."""
    return next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)


@contextmanager
def _held(path: Path):
    """An fcntl lock on `path`, its holder's pid inside; refused (naming that pid) when another process holds it."""
    out = path.parent
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise PtrmError(f"{out}: another process (pid {holder}) is writing this run; wait for it to end, "
                            f"or use another --out") from None
        if _same_file(path, handle):
            break
        handle.close()  # the holder before us removed this file as we opened it
    try:
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        if _same_file(path, handle):  # not a lock file made after a swap moved ours away (another writer's)
            path.unlink()  # still held: whoever opened it meanwhile retries
        handle.close()  # closing releases the lock


def _same_file(path: Path, handle) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def claim(out, resume: bool = False, overwrite: bool = False):
    """Start (or continue) writing a run in OUT, refusing to lose one; yields OUT with its lock held.

    A finished run is replaced only with `overwrite` (and only once the new one is complete: see swap); an
    unfinished one (OUT/parts) is continued with `resume` or started over with `overwrite`; a folder that
    holds anything else is refused. A run cut short (Ctrl-C) keeps its finished work items and says so.
    """
    out = Path(out)
    with lock(out):
        parts = out / PARTS
        finished, started = (out / MANIFEST).is_file(), parts.is_dir()
        if finished and not overwrite:
            raise PtrmError(f"{out}: holds a finished run; --overwrite replaces it (once the new run is complete), "
                            f"or use another --out" + ("; --resume continues only an unfinished run" if resume else
                                                       " (--resume continues an unfinished one)"))
        if started and not (resume or overwrite):
            raise PtrmError(f"{out}: holds an unfinished run ({len(PartStore(parts).files())} work items done); "
                            f"--resume continues it, --overwrite starts over")
        if resume and not started:
            raise PtrmError(f"--resume: {out} holds no unfinished run to continue")
        others = [p.name for p in out.iterdir() if p.name not in (LOCK, PARTS, MANIFEST, "records.parquet")
                  and not p.name.startswith(".")]
        if others and not (finished or started):
            raise PtrmError(f"{out}: not empty and holds no run ({others[0]}, ...); use another --out")
        if started and not resume:
            shutil.rmtree(parts)  # --overwrite: the unfinished run's work is not continued
        try:
            yield out
        except KeyboardInterrupt:
            kept = len(PartStore(parts).files())
            if kept:
                print(f"{out}: interrupted; {kept} finished work items kept, --resume continues", file=sys.stderr)
            raise


def holds_work(out) -> bool:
    """Whether OUT holds anything but its lock and the settings of a run that finished no work item yet."""
    out = Path(out)
    return any(p.name not in (LOCK, PARTS) for p in out.iterdir()) or bool(PartStore(out / PARTS).files())


def tidy(out) -> None:
    """Put back a finished run that a replacement cut short (kill -9 between swap's two renames) left beside
    OUT, and remove the half-written replacements of writers that are gone; one line each on stderr."""
    out = Path(out)
    for path in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*")):
        kind, _, pid = path.name[len(out.name) + 2:].rpartition("-")
        if kind not in ("new", "old") or not pid.isdigit() or pid_alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.rename(path, out)
            print(f"restored {out} from {path}: its replacement by process {pid} was cut short", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)
            print(f"removed {path}: left by process {pid}, which is gone", file=sys.stderr)


def beside(out, kind: str) -> Path:
    """The folder beside OUT where a new run is written before it replaces OUT (kind "new"), or where the old
    one waits to be deleted ("old"); named by this process, so tidy knows when it is stale."""
    out = Path(out)
    return out.with_name(f".{out.name}.{kind}-{os.getpid()}")


def swap(new, out) -> None:
    """Replace the folder OUT by the complete folder `new`: two renames, then the old one is deleted.

    Until the first rename OUT is the old run, whole; after the second it is the new one; a kill in between
    leaves the old run beside OUT, which `tidy` renames back.
    """
    old = beside(out, "old")
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old)


class PartStore:
    """A search's finished work items on disk, one parquet file per item (puzzles [p0, p1) x rollouts [k0, k1)),
    the wall time spent so far in `seconds.json`, and the search's settings in `settings.json`.

    Each file is written whole (ptrm.io), so a part on disk is a finished item; parts whose rectangle is not
    among the items asked for (another chunk size) are ignored, not mixed in; parts of a search with other
    settings are refused, naming the first field that differs. The one mechanism by which a search
    (`ptrm search --resume`) and a sweep's cells resume.
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, item: WorkItem) -> Path:
        return self.folder / f"p{item.p0}-{item.p1}_k{item.k0}-{item.k1}.parquet"

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("p*_k*.parquet"))

    def check(self, settings: dict) -> None:
        """Record `settings` for a new store, or refuse one holding the parts of a search with other settings."""
        path = self.folder / "settings.json"
        ours = json.loads(json.dumps(settings, default=str))  # as it reads back: tuples as lists, paths as text
        if not path.is_file():
            atomic_write_text(path, json.dumps(ours, indent=1))
            return
        try:
            theirs = json.loads(path.read_text())
        except ValueError:
            raise PtrmError(f"{path}: unreadable; --overwrite starts the run over") from None
        for key in sorted(ours.keys() | theirs.keys()):
            if theirs.get(key) != ours.get(key):
                raise PtrmError(f"{self.folder}: the work there is of a search with other settings ({key} "
                                f"{theirs.get(key)!r} there, {ours.get(key)!r} now); resume with the same "
                                f"settings, or --overwrite to start over")

    def load(self, items) -> dict:
        return {item: pd.read_parquet(self._path(item)) for item in items if self._path(item).is_file()}

    def save(self, records: pd.DataFrame, seconds: float) -> None:
        puzzles, ks = records.puzzle.to_numpy(), records.k.to_numpy()  # an item is a rectangle: its corners name it
        item = WorkItem(int(puzzles.min()), int(puzzles.max()) + 1, int(ks.min()), int(ks.max()) + 1)
        try:
            with atomic_write(self._path(item)) as tmp:
                records.to_parquet(tmp, index=False)
            atomic_write_text(self.folder / "seconds.json", json.dumps({"wall_seconds": seconds}))
        except OSError as e:
            kept = len(self.files())
            raise PtrmError(f"{self.folder}: cannot keep a finished work item ({e.strerror or e}); "
                            + (f"the {kept} kept so far stay, --resume continues from them" if kept else "none kept")
                            ) from None

    def seconds(self) -> float:
        path = self.folder / "seconds.json"
        return json.loads(path.read_text())["wall_seconds"] if path.is_file() else 0.0
