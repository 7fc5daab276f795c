"""A run on disk: `records.parquet` (one row per puzzle x rollout), `manifest.json`, `curves.csv`.

Every file is written beside its target and renamed into place, so a run folder never holds half a file.
"""
import json
from pathlib import Path

import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write, atomic_write_text
from ptrm.runner import SearchRun


def save_run(run: SearchRun, out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "records.parquet") as tmp:
        run.records.to_parquet(tmp, index=False)
    # The manifest goes last: its presence marks the run complete.
    atomic_write_text(out / "manifest.json", json.dumps(run.manifest, indent=1, default=str))
    return out


def load_run(path) -> SearchRun:
    path = Path(path)
    manifest, records = path / "manifest.json", path / "records.parquet"
    if not manifest.is_file() or not records.is_file():
        raise PtrmError(f"{path}: not a finished run (needs manifest.json and records.parquet)")
    try:
        return SearchRun(pd.read_parquet(records), json.loads(manifest.read_text()))
    except (OSError, ValueError) as e:
        raise PtrmError(f"{path}: unreadable run ({str(e).splitlines()[0][:160]})") from None
