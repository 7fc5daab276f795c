"""PTRM gain vs training progress (issue 10): when does test-time noise pay?

    python experiments/progress.py CKPT [CKPT ...] [--limit 500] [--K 64] [--sigmas 0.1,0.3] [--adaptive]

For each checkpoint (e.g. the long run's snapshots, results/checkpoints/long/step-*.pt): a sweep over the sigmas
at the checkpoint's N_sup (ptrm.sweep: one run folder per sigma, resumable: re-running skips finished cells) on
the first --limit puzzles of the test set every snapshot ships, and the deterministic model on the same puzzles
(the run the sweep stores once, read here).
Rows of results/progress/summary.csv: training step and minutes, deterministic accuracy and the AUROC of its
final q_halt, the RMS of the carried zL (the scale an absolute sigma meets: issue 10's absolute-or-relative
question), then per sigma every selection rule at K (ptrm.rules) with 95% intervals, the share of the deterministic error
best-Q closes, and the share of the deterministic model's failures that some rollout solves (the ceiling any
selector could reach). paired.csv says whether training moved the search's result: the change in best-Q@K from
each snapshot to the next (and first to last), paired over the same puzzles, where the unpaired intervals of
summary.csv overlap even when a difference is clear. The figure results/figures/progress.png draws the rows
against training steps. Each snapshot's deterministic run and zL RMS are kept beside its cells (deterministic/,
zL_rms.json), so adding a snapshot to the table later re-runs only the new one.

Records keep every step (per_step), so experiments/evidence.py reads the (rollout, step) selector from the same
cells. --adaptive runs the README's stopping rule (--halt-q 0 --settle 3 --give-up-q -3), ~2.5x cheaper at equal best-Q
on the shipped model; the rows say which was used.
"""
import argparse
from pathlib import Path

import pandas as pd

from ptrm.io import atomic_write_text
from ptrm.plots import training_progress
from ptrm.presets import preset
from ptrm.report import markdown
from ptrm.search import SearchConfig
from ptrm.snapshots import PROGRESS, SOURCES, changes, measure


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("ckpts", nargs="+", type=Path)
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--K", type=int, default=PROGRESS["K"])
    p.add_argument("--sigmas", default=",".join(map(str, PROGRESS["sigmas"])))
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/progress"))
    p.add_argument("--figure", default="results/figures/progress.png")
    args = p.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",")]
    cfg = SearchConfig(K=args.K, per_step=True, **preset("adaptive" if args.adaptive else "paper")).validate()
    table = pd.DataFrame([row for path in args.ckpts for row in measure(path, sigmas, cfg, args.limit, args.out)])
    table = table.sort_values(["step", "sigma"], na_position="last", kind="stable")
    atomic_write_text(args.out / "summary.csv", table.to_csv(index=False))
    shown = table[[c for c in table.columns if not c.endswith(("ci_low", "ci_high")) and c not in SOURCES]]
    atomic_write_text(args.out / "summary.md", markdown(shown) + "\n")
    print(markdown(shown))
    moved = changes(table, args.K)
    atomic_write_text(args.out / "paired.csv", moved.to_csv(index=False))
    atomic_write_text(args.out / "paired.md", markdown(moved) + "\n")
    print(f"\nbest-Q@{args.K}, paired over the same puzzles:\n{markdown(moved)}")
    print(training_progress(table, args.figure))


if __name__ == "__main__":
    main()
