"""ARC rows: what each row of an ARC split is (task, test input, augmentation), and fewer versions per input."""
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet, read_identifiers
from ptrm.tasks import arc


def arc_augmentations(pset: PuzzleSet, n: int) -> PuzzleSet:
    """The rows of the first `n` versions of every ARC test input (the task as given, then its
    augmentations in the order drawn): fewer votes for less compute, identifiers unchanged."""
    if pset.rows is None:
        raise PtrmError(f"{pset.source}: --arc-augs applies to ARC datasets only (this is {pset.task})")
    if n < 1:
        raise PtrmError(f"--arc-augs must be >= 1, got {n}")
    return pset.subset(pset.rows.groupby(["task", "test_index"]).cumcount().to_numpy() < n)


def arc_rows(identifiers_file: Path, identifiers: np.ndarray, puzzle_indices: np.ndarray) -> pd.DataFrame:
    """What each row of an ARC split is: its puzzle's identifier and name, the task, the test input (its
    index within the puzzle) and the augmentation (trans, perm), from `identifiers.json`."""
    if not identifiers_file.is_file():
        raise PtrmError(f"{identifiers_file}: missing; an ARC dataset needs it to invert its augmentations")
    names = read_identifiers(identifiers_file)
    if identifiers.max(initial=0) >= len(names) or identifiers.min(initial=0) < 0:
        raise PtrmError(f"{identifiers_file}: {len(names)} names, but the data uses identifier {identifiers.max()}")
    parsed = {i: arc.parse_name(names[i]) for i in np.unique(identifiers)}
    sizes = np.diff(puzzle_indices)
    return pd.DataFrame({
        "identifier": identifiers, "name": [names[i] for i in identifiers],
        "task": [parsed[i][0] for i in identifiers],
        "test_index": np.arange(len(identifiers)) - np.repeat(puzzle_indices[:-1], sizes),
        "trans": [parsed[i][1] for i in identifiers],
        "perm": ["".join(map(str, parsed[i][2])) for i in identifiers]})
