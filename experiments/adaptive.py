"""Fixed-D against adaptive search: choose the stopping rule on a selection set, then measure both.

    python experiments/adaptive.py [--select 64] [--eval 256] [--K 16] [--sigma 0.3]

1. Selection (puzzles 1000.. of results/data/sudoku-hard, which the checkpoint does not ship as its test set):
   one fixed-D run with per-step records, replayed (ptrm.adaptive.replay_adaptive) under every per-rollout
   rule of a small grid; the rule kept is the cheapest whose best-Q@K is at least the fixed run's.
   Only per-rollout rules (halt_q, settle, give_up_q) are searched: each rollout then stops on its own, so the exact
   @k estimators still give the whole curve over k from one run.
2. Evaluation (puzzles 50.. of the checkpoint's test set; 0-49 were looked at before, by a 50-puzzle run):
   a fixed-D run (reused from results/adaptive/fixed when it is there: it does not depend on the rule) and a
   real adaptive run with the chosen rule, saved under results/adaptive/, then the
   curves best-Q@k against network FLOPs and wall seconds per puzzle (results/figures/adaptive.png) and
   a table (results/adaptive/summary.md).
"""
import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm import metrics, rules
from ptrm.adaptive import replay_adaptive
from ptrm.checkpoint import load_checkpoint
from ptrm.data import load_puzzles
from ptrm.io import atomic_write, atomic_write_text
from ptrm.plots import adaptive_curves
from ptrm.report import markdown
from ptrm.runner import run_search
from ptrm.search import SearchConfig
from ptrm.store import load_run, save_run

OUT = Path("results/adaptive")
GRID = {"halt_q": [None, 0.0, 1.0], "settle": [0, 3, 6], "give_up_q": [None, -3.0, -4.0, -5.0]}  # give_up_step 8


def best_q(records, K) -> float:
    return float(rules.per_puzzle_at_k(records, "best_q", K)[0].mean())


def choose_rule(ck, cfg, n_select):
    pset = load_puzzles("results/data/sudoku-hard").subset(np.arange(1000, 1000 + n_select))
    run = run_search(ck, pset, replace(cfg, per_step=True), progress=True, deterministic=False)
    save_run(run, OUT / "selection")
    D = run.manifest["search"]["D"]
    fixed = best_q(run.records, cfg.K)
    rows = []
    for values in itertools.product(*GRID.values()):
        rule = dict(zip(GRID, values))
        rec = replay_adaptive(run.records, **rule)
        rows.append({**rule, "best-Q@K": 100 * best_q(rec, cfg.K),
                     "share of FLOPs": rec.steps.sum() / (D * len(rec))})
    table = pd.DataFrame(rows)
    ok = table[table["best-Q@K"] >= 100 * fixed - 1e-9]
    pick = ok.sort_values(["share of FLOPs", "settle"]).iloc[0]  # ties: the simpler rule
    print(f"selection ({n_select} puzzles, fixed best-Q@{cfg.K} {100 * fixed:.1f}%):\n{table.to_string(index=False)}")
    rule = {k: (None if pd.isna(pick[k]) else float(pick[k])) for k in ("halt_q", "give_up_q")}
    return {**rule, "settle": int(pick.settle)}, table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="results/checkpoints/sudoku-2k.pt")  # the model results/adaptive measured
    ap.add_argument("--select", type=int, default=64)
    ap.add_argument("--eval", type=int, default=256)
    ap.add_argument("--K", type=int, default=16)
    ap.add_argument("--sigma", type=float, default=0.3)
    args = ap.parse_args()

    ck = load_checkpoint(args.ckpt)
    cfg = SearchConfig(K=args.K, sigma=args.sigma).validate()
    rule, selection = choose_rule(ck, cfg, args.select)
    print("chosen rule:", rule)

    pset = ck.test_set().subset(np.arange(50, 50 + args.eval))
    fixed = load_run(OUT / "fixed") if (OUT / "fixed" / "manifest.json").is_file() else run_search(ck, pset, cfg)
    runs = {"fixed": fixed, "adaptive": run_search(ck, pset, replace(cfg, **rule))}
    rows, curves = [], []
    for name, run in runs.items():
        save_run(run, OUT / name)
        n, K = len(pset), cfg.K
        steps_per_rollout = run.records.steps.mean()
        flops_per_rollout = metrics.flops_per_step(ck.cfg) * steps_per_rollout
        seconds_per_rollout = run.manifest["wall_seconds"] / (n * K)
        curve = rules.curves(run.records, list(range(1, K + 1)), rules=("best_q", "pass"))
        curve["search"] = name
        curve["flops_per_puzzle"] = curve.k * flops_per_rollout
        curve["seconds_per_puzzle"] = curve.k * seconds_per_rollout
        curves.append(curve)
        at_k = curve[(curve.k == K) & (curve.rule == "best_q")].iloc[0]
        rows.append({"search": name, "rule": json.dumps(rule) if name == "adaptive" else "fixed D",
                     "deterministic": 100 * run.manifest["deterministic"]["exact_accuracy"],
                     f"best-Q@{K}": f"{100 * at_k.accuracy:.1f} [{100 * at_k.ci_low:.1f}, {100 * at_k.ci_high:.1f}]",
                     "steps/rollout": steps_per_rollout, "GFLOP/puzzle": K * flops_per_rollout / 1e9,
                     "s/puzzle": run.manifest["wall_seconds"] / n})
    table = pd.DataFrame(rows)
    fixed, adaptive = runs["fixed"].manifest, runs["adaptive"].manifest
    ratios = (f"adaptive / fixed: FLOPs {adaptive['flops_total'] / fixed['flops_total']:.2f}, "
              f"wall time {adaptive['wall_seconds'] / fixed['wall_seconds']:.2f}")
    text = (f"# Fixed-D vs adaptive search\n\n`python experiments/adaptive.py --select {args.select} --eval "
            f"{args.eval} --K {args.K} --sigma {args.sigma}`; {fixed['hardware'].splitlines()[0]}\n\n"
            f"Selection replay ({args.select} puzzles, sudoku-hard 1000..):\n\n{markdown(selection)}\n\n"
            f"Chosen: {json.dumps(rule)}\n\nEvaluation ({args.eval} puzzles, test set 50..):\n\n"
            f"{markdown(table)}\n\n{ratios}\n")
    atomic_write_text(OUT / "summary.md", text)
    curves = pd.concat(curves, ignore_index=True)
    with atomic_write(OUT / "curves.csv") as tmp:
        curves.to_csv(tmp, index=False)
    adaptive_curves(curves, Path("results/figures/adaptive.png"))
    print(text)


if __name__ == "__main__":
    main()
