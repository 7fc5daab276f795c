"""Where a result came from: the command that made it, the code that ran it and the exact puzzles it saw.

Every run manifest carries these (ptrm.runner), so a table can be traced to its inputs and made again:
`provenance` = the command line, ptrm's version and the git commit of the code (with a dirty flag), and
`data` = the source, the rows of the source that were searched (`source_offset` + `n_puzzles`, or the explicit
`source_rows` of a set picked row by row) and the puzzles' sha256. `missing_fields` is the check a test runs
over every manifest under results/.
"""
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

import ptrm

# The fields a manifest must carry for its result to count as traceable (dotted paths into the JSON).
REQUIRED = ("provenance.command", "provenance.ptrm", "provenance.git_commit", "checkpoint.sha256",
            "data.source", "data.source_offset", "data.n_puzzles", "data.sha256", "hardware", "search.dtype")


def command_line(argv=None) -> str:
    """The command as a user would type it again: `ptrm ...` for the CLI, `python script ...` for a script."""
    argv = list(sys.argv if argv is None else argv)
    head = Path(argv[0]).name if argv else "python"
    prog = ["ptrm"] if head == "ptrm" else ["python", argv[0]] if argv and argv[0].endswith(".py") else [head]
    return shlex.join(prog + argv[1:])


def git_state(root: Path | None = None) -> dict:
    """The commit of the checkout ptrm runs from and whether it had uncommitted changes (None: not a checkout,
    e.g. a wheel install, or git missing)."""
    root = root or Path(ptrm.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "git_dirty": None}
    if commit.returncode or status.returncode:
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def provenance(argv=None) -> dict:
    return {"command": command_line(argv), "ptrm": ptrm.__version__, **git_state()}


def data_sha256(pset) -> str:
    """The puzzles' identity: the same arrays give the same hash wherever the file was read from."""
    h = hashlib.sha256()
    for a in (pset.inputs, pset.labels, pset.puzzle_identifiers):
        h.update(np.ascontiguousarray(a, dtype=np.int32).tobytes())
    return h.hexdigest()


def source_rows(pset) -> dict:
    """The rows of `pset.source` that `pset` holds: {"source_offset": first} when they are consecutive,
    else {"source_offset": None, "source_rows": [...]}."""
    rows = np.arange(len(pset)) if pset.source_index is None else np.asarray(pset.source_index)
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return {"source_offset": int(rows[0])}
    return {"source_offset": None, "source_rows": [int(r) for r in rows]}


def missing_fields(manifest: dict) -> list[str]:
    """The REQUIRED fields `manifest` lacks (a `source_offset` of None counts when `source_rows` is given)."""
    missing = []
    for field in REQUIRED:
        node = manifest
        for key in field.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is None and not (field == "data.source_offset" and manifest.get("data", {}).get("source_rows")):
            missing.append(field)
    return missing
