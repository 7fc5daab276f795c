"""A run on disk: `records.parquet` (one row per puzzle x rollout), `manifest.json`, `curves.csv`.

Every file is written beside its target and renamed into place, so a run folder never holds half a file.
The manifest marks a run complete: it is written last, only for records that passed `check_records`, and it
holds the sha256 of the records it describes, which every reader checks (`load_run`), so records and a
manifest of two different runs are never read as one. A finished run is replaced by writing the new one in a
folder beside it and swapping the two (ptrm.runfolder.swap): until then the old run stays whole and readable.
"""
import json
import shutil
from pathlib import Path

import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write, atomic_write_text, file_sha256
from ptrm import waves
from ptrm.runfolder import MANIFEST, PARTS, beside, swap, tidy
from ptrm.runner import SearchRun, check_finite
from ptrm.search import SearchConfig

RECORDS = "records.parquet"


def check_records(run: SearchRun) -> None:
    """Refuse records that cannot be a finished run: one row per puzzle x rollout, every q_halt finite."""
    records, n, K = run.records, run.manifest["data"]["n_puzzles"], run.manifest["search"]["K"]
    if run.manifest["search"].get("mode") == "waves":  # puzzles end with K0..K rollouts
        waves.check_records(records, n, SearchConfig(**{f: run.manifest["search"][f] for f in ("K", "k0")}))
    elif len(records) != n * K:
        raise PtrmError(f"search produced {len(records)} records, expected {n} puzzles x K={K} = {n * K}; "
                        f"nothing saved")
    check_finite(records, run.manifest["checkpoint"]["path"])


def save_run(run: SearchRun, out) -> Path:
    """Write `run` as the finished run in OUT (replacing one there only once the new one is whole) and drop
    the work items it was made of (OUT/parts). A failed write (a full disk) is one line; the old run stays."""
    check_records(run)
    out = Path(out)
    tidy(out)
    replacing = (out / MANIFEST).is_file()
    folder = beside(out, "new") if replacing else out
    try:
        _write(run, folder)
        if replacing:
            swap(folder, out)
    except OSError as e:
        if replacing:
            shutil.rmtree(folder, ignore_errors=True)
        raise PtrmError(f"{out}: could not write the run ({e.strerror or e})"
                        + ("; the run there before is untouched" if replacing else "; nothing saved")) from None
    shutil.rmtree(out / PARTS, ignore_errors=True)  # a finished run keeps its records, not its parts
    return out


def _write(run: SearchRun, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / RECORDS) as tmp:
        run.records.to_parquet(tmp, index=False)
        digest = file_sha256(tmp)
    # The manifest goes last: its presence marks the run complete, and it names the records it belongs to.
    atomic_write_text(folder / MANIFEST, json.dumps({**run.manifest, "records_sha256": digest}, indent=1, default=str))


def load_run(path) -> SearchRun:
    """The finished run in `path`, its records checked against the hash its manifest holds (manifests written
    before the hash was recorded have none to check)."""
    path = Path(path)
    tidy(path)
    manifest, records = path / MANIFEST, path / RECORDS
    if not manifest.is_file() or not records.is_file():
        raise PtrmError(f"{path}: not a finished run (needs {MANIFEST} and {RECORDS})")
    try:
        meta = json.loads(manifest.read_text())
        expected, actual = meta.get("records_sha256"), file_sha256(records)
        if expected is not None and expected != actual:
            raise PtrmError(f"{records} does not belong to {manifest} (sha256 {actual[:12]}, the manifest says "
                            f"{str(expected)[:12]}): written by two runs; run the search again")
        return SearchRun(pd.read_parquet(records), meta)
    except (OSError, ValueError, AttributeError) as e:
        raise PtrmError(f"{path}: unreadable run ({str(e).splitlines()[0][:160]})") from None
