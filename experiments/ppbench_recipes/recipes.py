"""Issue 35, item 1: matched PPBench recipe arms on a CPU budget (arms.yaml), and their comparison table.

    python experiments/ppbench_recipes/recipes.py data                 # the arms' training sets, under runs/
    python experiments/ppbench_recipes/recipes.py train ARM [ARM ...]  # resumable: run again to continue
    python experiments/ppbench_recipes/recipes.py table                # results/ppbench/recipes/table.{csv,md}

Each arm is `ptrm train base.yaml` with its overrides, one thread, in runs/ppbench_recipes/<arm>/; a curriculum
arm's later phases resume the same run on another training set. The CPU seconds of every `ptrm train` process
(user + system, from the OS) add up in cpu.json beside the run, so the table states compute as CPU time, which
a shared machine does not inflate the way it does wall time.
"""
import fcntl
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import torch
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
RUNS = ROOT / "runs" / "ppbench_recipes"
COMMITTED = ROOT / "results" / "data" / "ppbench" / "generated"
OUT = ROOT / "results" / "ppbench" / "recipes"
HELD_OUT = 200     # generated puzzles 0-199 of each type: never trained on (as in results/data/ppbench)
EVAL_PER_TYPE = 100


def arms() -> tuple[int, dict]:
    spec = yaml.safe_load((HERE / "arms.yaml").read_text())
    return spec["steps"], spec["arms"]


def data_name(types, puzzles, keep) -> str:
    return f"{'+'.join(types)}-n{puzzles}-keep{keep:g}"


def phases(arm: dict, steps: int) -> list[tuple[str, int]]:
    """(training set folder, until step) per phase; a mixed arm trains `steps` per type."""
    total = steps * len(arm["types"])
    plan = arm.get("phases") or [{"keep": 0.0, "until": 1.0}]
    return [(str(RUNS / "data" / data_name(arm["types"], arm.get("puzzles", 1000), p["keep"])),
             round(p["until"] * total)) for p in plan]


def generated_folder() -> Path:
    """runs/ppbench_recipes/generated: links to the committed shards, so drawing more puzzles (or other `keep`)
    adds shards under runs/ and leaves the committed set alone."""
    folder = RUNS / "generated"
    for shard in COMMITTED.glob("*/*.jsonl"):
        link = folder / shard.parent.name / shard.name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(shard.resolve())
    return folder


@click.group()
def cli():
    pass


@cli.command()
def data():
    """Build every training set the arms name (draws the puzzles that are missing, one process)."""
    from ptrm.tasks.ppbench import build as ppbench_build
    steps, spec = arms()
    folder = generated_folder()
    for name, arm in spec.items():
        for path, _ in phases(arm, steps):
            if (Path(path) / "train" / "dataset.json").is_file():
                continue
            keep = float(path.rsplit("keep", 1)[1])
            n = HELD_OUT + arm.get("puzzles", 1000)
            sets = {kind: ppbench_build.generated_ppbench(folder, kind, n, 0, keep)[0] for kind in arm["types"]}
            counts = ppbench_build.build_ppbench(sets, path, HELD_OUT)
            click.echo(f"{name}: {path} {counts}")


def run_train(cmd: list[str], cpu_file: Path) -> int:
    """Run one `ptrm train` and add its CPU seconds to cpu_file."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total = json.loads(cpu_file.read_text())["cpu_seconds"] if cpu_file.is_file() else 0.0
    cpu_file.write_text(json.dumps({"cpu_seconds": total + spent}))
    return rc


@cli.command()
@click.argument("names", nargs=-1, required=True)
def train(names):
    """Train the arms NAMES in turn; an arm that stopped resumes, one that is done (or that another driver is
    training) is skipped."""
    steps, spec = arms()
    for name in names:
        arm, out = spec[name], RUNS / name
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / "lock", "w")  # held while this driver trains the arm; released when the process ends
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            click.echo(f"{name}: another driver is training it; skipped")
            continue
        test = RUNS / "data" / data_name(arm["types"], arm.get("puzzles", 1000), 0.0)  # keep-0 puzzles 0-99 per type
        for path, until in phases(arm, steps):
            done = torch.load(out / "resume.pt", weights_only=False)["step"] if (out / "resume.pt").is_file() else 0
            if done >= until:
                continue
            cmd = [sys.executable, "-m", "cli.main", "train", str(HERE / "base.yaml"), f"train_data={path}",
                   f"test_data={test}", f"out={out}", f"max_steps={until}",
                   f"test_limit={EVAL_PER_TYPE * len(arm['types'])}", *arm.get("overrides", [])]
            cmd += ["--resume"] if done else []
            click.echo(" ".join(cmd[2:]))
            if run_train(cmd, out / "cpu.json"):
                raise SystemExit(f"{name}: ptrm train failed")


def arm_row(name: str, arm: dict, steps: int, cpu: str) -> list[dict]:
    out = RUNS / name
    ck = torch.load(out / "model.pt", weights_only=False, map_location="cpu")
    m, cfg = ck["metrics"], ck["train_config"]
    seconds = json.loads((out / "cpu.json").read_text())["cpu_seconds"]
    plan = phases(arm, steps)
    if m["train_steps"] < plan[-1][1]:  # a curriculum arm between its phases
        return []
    rows = []
    for kind in arm["types"]:
        rows.append({"arm": name, "type": kind, "mixer": "MLP-t" if cfg["model"]["mlp_t"] else "attention",
                     "types_trained": "+".join(arm["types"]), "train_puzzles": arm.get("puzzles", 1000),
                     "curriculum": " then ".join(f"keep {Path(p).name.rsplit('keep', 1)[1]} to {u}" for p, u in plan)
                     if len(plan) > 1 else "", "steps": m["train_steps"], "steps_per_type": steps,
                     "batch": cfg["batch_size"], "cpu_minutes": round(seconds / 60, 1), "cpu": cpu,
                     "n_eval": EVAL_PER_TYPE, "cell_pct": round(100 * m["cell_by_type"][kind], 1),
                     "exact_pct": round(100 * m["exact_by_type"][kind], 1),
                     "command": f"python experiments/ppbench_recipes/recipes.py train {name}"})
    return rows


@cli.command()
def table():
    """The comparison table of the finished arms (results/ppbench/recipes/table.csv and table.md): arms finished
    here replace their rows; arms finished in an earlier sitting (runs/ is local) keep theirs."""
    from ptrm import report
    from ptrm.hardware import cpu
    from ptrm.io import atomic_write_text
    steps, spec = arms()
    name_of_cpu = cpu().describe()
    rows = [r for name, arm in spec.items() if (RUNS / name / "model.pt").is_file()
            for r in arm_row(name, arm, steps, name_of_cpu)]
    df = pd.DataFrame(rows)
    if (OUT / "table.csv").is_file():
        earlier = pd.read_csv(OUT / "table.csv", keep_default_na=False)
        df = pd.concat([earlier[~earlier.arm.isin(df.get("arm", []))], df], ignore_index=True)
        df = df.sort_values("arm", key=lambda arm: arm.map(list(spec).index), kind="stable").reset_index(drop=True)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "table.csv", df.to_csv(index=False))
    atomic_write_text(OUT / "table.md", report.markdown(df.drop(columns=["command", "cpu"])) + "\n")
    click.echo(report.markdown(df.drop(columns=["command", "cpu"])))


if __name__ == "__main__":
    cli()
