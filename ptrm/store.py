"""A run on disk: `records.parquet` (one row per puzzle x rollout), `manifest.json`, `curves.csv`.

Every file is written beside its target and renamed into place, so a run folder never holds half a file.
The manifest marks a run complete: it is written last, only for records that passed `check_records`, and
an old one is removed before new records replace old ones, so a run cut short anywhere has no manifest.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.io import atomic_write, atomic_write_text
from ptrm import waves
from ptrm.runner import SearchRun
from ptrm.search import SearchConfig


def check_records(run: SearchRun) -> None:
    """Refuse records that cannot be a finished run: one row per puzzle x rollout, every q_halt finite.

    A NaN q_halt (diverged weights, a bf16 overflow) would rank rollouts arbitrarily and make every table
    wrong without saying so.
    """
    records, n, K = run.records, run.manifest["data"]["n_puzzles"], run.manifest["search"]["K"]
    if run.manifest["search"].get("mode") == "waves":  # puzzles end with K0..K rollouts
        waves.check_records(records, n, SearchConfig(**{f: run.manifest["search"][f] for f in ("K", "k0")}))
    elif len(records) != n * K:
        raise PtrmError(f"search produced {len(records)} records, expected {n} puzzles x K={K} = {n * K}; "
                        f"nothing saved")
    bad = ~np.isfinite(records["q_halt"].to_numpy(np.float64))
    if bad.any():
        first = records[bad].iloc[0]
        raise PtrmError(f"{run.manifest['checkpoint']['path']}: search produced non-finite q_halt "
                        f"({first.q_halt}) in {int(bad.sum())} of {len(records)} rollouts (first: puzzle "
                        f"{first.puzzle}, k {first.k}); nothing saved")


def save_run(run: SearchRun, out) -> Path:
    check_records(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # the old run is no longer complete once its records go
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
