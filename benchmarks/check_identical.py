"""No-behaviour-change check for refactors: rerun fixed searches and evaluations, compare with a baseline.

    python benchmarks/check_identical.py OUT [--base BASE] [--arc ARCFIX]

Runs, into OUT: `ptrm search` on the shipped Sudoku checkpoint (24 puzzles, K=16, the README's adaptive flags,
fp32), an ARC search on a fixture set and random official-format checkpoint (ARCFIX/data, ARCFIX/run/step_10:
tests/test_arc.py's, built once by a script kept beside the baseline), a PPBench search on the shipped PPBench
checkpoint's test set, and `ptrm eval` on each. With --base, compares every records.parquet with pandas `equals`
(bit for bit: same dtypes, same values, NaN equal to NaN), the manifests without their timing and provenance
fields, and the printed output of every command without its timing lines; exits 1 on any difference.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

SUDOKU = "results/checkpoints/sudoku.pt"
PPBENCH = "results/checkpoints/ppbench.pt"
VOLATILE = {"created", "provenance", "resumed_items", "versions", "hardware"}  # top-level manifest keys
TIMING = ("per puzzle:", "records:", "dtype ")  # lines that hold seconds, dollars, or an output path


def commands(out: Path, arc: Path) -> dict:
    fp32 = ["--dtype", "float32"]
    return {
        "sudoku": ["search", "--ckpt", SUDOKU, "--samples", 16, "--sigma", 0.3, "--limit", 24, "--halt-q", 0,
                   "--settle", 3, "--give-up-q", -3, *fp32, "--out", out / "sudoku"],
        "arc": ["search", "--ckpt", arc / "run" / "step_10", "--data", arc / "data", "-K", 3, "--sigma", 0.5, *fp32,
                "--chunk-size", 2, "--out", out / "arc"],
        "ppbench": ["search", "--ckpt", PPBENCH, "--limit", 12, "-K", 4, "--sigma", 0.3, "--steps", 4, *fp32,
                    "--out", out / "ppbench"],
        "eval-sudoku": ["eval", "--ckpt", SUDOKU, "--limit", 64, *fp32],
        "eval-arc": ["eval", "--ckpt", arc / "run" / "step_10", "--data", arc / "data", *fp32],
        "eval-ppbench": ["eval", "--ckpt", PPBENCH, "--limit", 12, "--steps", 4, *fp32],
    }


def run(name: str, args: list, out: Path) -> None:
    # the checkout's CLI (run from the repository root), not an installed `ptrm` that may point elsewhere
    launcher = "import sys\nfrom cli.main import main\nsys.argv[0] = 'ptrm'\nmain()"
    res = subprocess.run([sys.executable, "-c", launcher, *map(str, args)], capture_output=True, text=True)
    (out / f"{name}.stdout").write_text(res.stdout)
    if res.returncode:
        sys.exit(f"{name} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    print(f"ran {name}", flush=True)


def strip(manifest: dict, top: bool = True) -> dict:
    """The manifest without what differs between two runs of the same search: timings and where it ran."""
    return {k: strip(v, False) if isinstance(v, dict) else v for k, v in manifest.items()
            if k != "wall_seconds" and not (top and k in VOLATILE)}


def printed(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.startswith(TIMING)]


def compare(base: Path, out: Path, names) -> bool:
    same = True
    for name in names:
        folder = base / name
        if (folder / "records.parquet").is_file():
            a, b = pd.read_parquet(folder / "records.parquet"), pd.read_parquet(out / name / "records.parquet")
            ok = a.equals(b) and list(a.columns) == list(b.columns)
            print(f"{name}: records {'identical' if ok else 'DIFFER'} ({len(a)} rows)")
            same &= ok
            ma = strip(json.loads((folder / "manifest.json").read_text()))
            mb = strip(json.loads((out / name / "manifest.json").read_text()))
            if json.dumps(ma, sort_keys=True) != json.dumps(mb, sort_keys=True):  # NaN == NaN in text
                keys = sorted(k for k in ma.keys() | mb.keys() if json.dumps(ma.get(k)) != json.dumps(mb.get(k)))
                print(f"{name}: manifest differs in {keys}")
                same = False
        a, b = printed(base / f"{name}.stdout"), printed(out / f"{name}.stdout")
        if a != b:
            print(f"{name}: printed output differs:\n  " + "\n  ".join(f"{x!r} | {y!r}" for x, y in zip(a, b) if x != y)
                  + (f"\n  ({len(a)} lines before, {len(b)} now)" if len(a) != len(b) else ""))
            same = False
        else:
            print(f"{name}: printed output identical ({len(a)} lines)")
    return same


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--base", type=Path)
    ap.add_argument("--arc", type=Path, default=Path("/tmp/i32-base/arcfix"))
    ap.add_argument("--only", nargs="*", help="run and compare these checks only")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    todo = {k: v for k, v in commands(a.out, a.arc).items() if not a.only or k in a.only}
    for name, args in todo.items():
        run(name, args, a.out)
    if a.base and not compare(a.base, a.out, todo):
        sys.exit(1)


if __name__ == "__main__":
    main()
