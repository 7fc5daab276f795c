"""Every table and figure one command away: experiment specs, what is left of them, and the index of results/.

A spec (experiments/reproduce/NAME.yaml) declares one table or figure of the README and its docs:

    what: the 500-puzzle headline table ...        # one line
    inputs: [results/checkpoints/sudoku.pt]        # files it reads
    steps:                                          # commands, run in order from the repository root
      - run: ptrm sweep --ckpt ... --preset adaptive --out results/x
        makes: [results/x/sigma=0.3_D=16/manifest.json]   # the step is done once these exist
        stdout: results/benchmarks/search.txt       # optional: the command's output, kept (written atomically)
    outputs: [results/x/summary.md]                 # the tables and figures the index lists
    cost: 67 min on 2 AVX2 cores (fp32)             # as measured when it was made

`ptrm reproduce NAME` runs the steps whose `makes` are not all there, so a finished spec costs nothing and an
interrupted one goes on (sweeps and searches keep their finished work items). The index (results/README.md)
is written from the specs and the manifests under their outputs: command, inputs, cost, and the search time
the manifests recorded.
"""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text

SPECS = Path("experiments/reproduce")
INDEX = Path("results/README.md")


@dataclass
class Step:
    run: str                    # a shell command (bash), run from the repository root
    makes: list[str]            # done once all of these exist
    stdout: str | None = None   # where the command's standard output is kept, if anywhere


@dataclass
class Spec:
    name: str
    what: str
    steps: list[Step]
    outputs: list[str]
    inputs: list[str] = field(default_factory=list)
    cost: str = ""


def load_specs(root=".") -> dict[str, Spec]:
    folder = Path(root) / SPECS
    if not folder.is_dir():
        raise PtrmError(f"{folder.resolve()}: no experiment specs here; run from the root of a ptrm clone")
    specs = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text())
            steps = [Step(**step) for step in raw.pop("steps")]
            specs[path.stem] = Spec(name=path.stem, steps=steps, **raw)
        except (yaml.YAMLError, TypeError, KeyError, AttributeError) as e:
            raise PtrmError(f"{path}: not an experiment spec ({str(e).splitlines()[0][:120]})") from None
    return specs


def todo(spec: Spec, root=".") -> list[Step]:
    return [step for step in spec.steps if not all((Path(root) / p).exists() for p in step.makes)]


def run(spec: Spec, root=".", log=print) -> None:
    """Run what is left of `spec`, in order; a step that fails or does not make its files stops the run."""
    # `ptrm` and `python` in a step mean this installation's, whatever PATH says
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    left = todo(spec, root)
    log(f"{spec.name}: {len(spec.steps) - len(left)} of {len(spec.steps)} steps done earlier, {len(left)} to run")
    for step in left:
        log(f"$ {step.run}")
        done = subprocess.run(["bash", "-c", step.run], cwd=root, env=env, text=True,
                              stdout=subprocess.PIPE if step.stdout else None)
        if done.returncode:
            raise PtrmError(f"{spec.name}: step failed (exit {done.returncode}): {step.run}")
        if step.stdout:
            atomic_write_text(Path(root) / step.stdout, done.stdout)
        missing = [p for p in step.makes if not (Path(root) / p).exists()]
        if missing:
            raise PtrmError(f"{spec.name}: the step did not make {missing[0]}: {step.run}")


def _folders(spec: Spec, root) -> set[Path]:
    return {(Path(root) / p).parent for step in spec.steps for p in step.makes}


def recorded(spec: Spec, specs: dict[str, Spec], root=".") -> tuple[float, list[str]]:
    """The search time the manifests under the spec's outputs recorded, in seconds, and on which CPUs/GPUs: a
    manifest counts for the spec with the deepest output folder above it (results/ppbench/ holds other specs'
    folders, e.g. results/ppbench/sudoku-specialist/)."""
    folders = _folders(spec, root)
    deeper = {f for other in specs.values() if other is not spec for f in _folders(other, root)
              if any(mine in f.parents for mine in folders)}
    seconds, machines = 0.0, set()
    for manifest in {m for f in folders if f.is_dir() for m in f.rglob("manifest.json")
                     if not any(d in m.parents for d in deeper)}:
        m = json.loads(manifest.read_text())
        seconds += m.get("wall_seconds", 0.0)
        machines.add(str(m.get("hardware", "unknown")).splitlines()[0].split(" (")[0])  # "CPU: <model> [family, model]"
    return seconds, sorted(machines)


def index(specs: dict[str, Spec], root=".") -> str:
    """results/README.md: every table and figure, the command that makes it, its inputs and its cost."""
    shipped = ", ".join(f"`{p.name}`" for p in sorted((Path(root) / "results" / "checkpoints").glob("*.pt")))
    lines = ["# results/: every table and figure, and the one command that makes it", "",
             "Written by `ptrm reproduce --index` from the specs in `experiments/reproduce/` and the run manifests "
             "under each output (every manifest names its command, git commit, checkpoint sha256 and exact puzzles). "
             "`ptrm reproduce NAME` runs what is missing and skips what is done.", "",
             f"Not listed: `checkpoints/` (the shipped models: {shipped}, and the long "
             "run's snapshots in `checkpoints/long/` that `progress` and `select` read; see docs/training.md), "
             "`data/` (held-out puzzle files the specs read), `training/` (learning curves). Trainer resume states "
             "and snapshots past the shipped ones are not committed: they stay in the folder that trained them (gitignored).", ""]
    for spec in specs.values():
        seconds, machines = recorded(spec, specs, root)
        missing = [p for p in spec.outputs if not (Path(root) / p).exists()]
        lines += [f"## {spec.name}", "", spec.what, "",
                  f"- command: `ptrm reproduce {spec.name}`",
                  "- outputs: " + ", ".join(f"`{p}`" + (" (not made yet)" if p in missing else "")
                                            for p in spec.outputs),
                  "- inputs: " + (", ".join(f"`{p}`" for p in spec.inputs) or "none"),
                  f"- cost: {spec.cost or 'not measured'}"]
        if seconds:
            lines.append(f"- search time the manifests recorded: {seconds / 60:.1f} min on {'; '.join(machines)}")
        lines += ["- steps:", "", "```bash", *[step.run + (f" > {step.stdout}" if step.stdout else "")
                                               for step in spec.steps], "```", ""]
    return "\n".join(lines)
