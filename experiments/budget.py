"""The budget-matched comparison (issue 33): independent best-of-K, adaptive width and population search on one
accuracy-versus-rollout-steps plot, on the same puzzles.

    python experiments/budget.py extend RUN --K 256 --q-threshold 1 --out DIR   # rollouts k >= K_run of RUN's low-Q puzzles
    python experiments/budget.py population RUN --K 64 --seed 0 --solved 10 --out DIR   # the hard subset
    python experiments/budget.py compare RUN --extra DIR --population DIR [DIR ...] --out DIR

`extend` runs, for every puzzle of RUN whose best Q over its K_run rollouts is below --q-threshold, the rollouts
k = K_run .. K-1 with RUN's own settings: the rollouts a wider run (or further waves of adaptive width, whose
rollout indices continue) would add, with the same noise, so RUN plus them is exactly that wider run on those
puzzles. Finished puzzles are kept in DIR/parts and not run again.

`population` runs population search (ptrm.population) with RUN's settings on the puzzles no rollout of RUN
solves plus --solved puzzles it solves (a seeded sample): each puzzle's K particles as one work item of the
whole set, so its records are those a population search over all the puzzles gives for it.
"""
import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ptrm.checkpoint import load_checkpoint
from ptrm.io import atomic_write_text
from ptrm.runner import PartStore
from ptrm.search import SearchConfig, WorkItem, run_work_item, sort_records
from ptrm.store import load_run


def config_of(manifest: dict, **changes) -> SearchConfig:
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    return SearchConfig(**{**{k: v for k, v in manifest["search"].items() if k in names}, **changes})


def run_items(run, items, cfg, out: Path, what: dict) -> None:
    """Run `items` (work items of the whole set RUN searched) with `cfg`; records and what was run go to out."""
    ck = load_checkpoint(run.manifest["checkpoint"]["path"])
    pset = ck.test_set()
    store = PartStore(out / "parts")
    (out / "parts").mkdir(parents=True, exist_ok=True)
    done = store.load(items)
    parts = list(done.values())
    for item in items:
        if item in done:
            continue
        parts.append(run_work_item(ck.model, pset, item, cfg))
        store.save(parts[-1], 0.0)
        print(f"puzzle {item.p0}: {int(parts[-1].steps.sum())} rollout-steps", file=sys.stderr, flush=True)
    records = sort_records(pd.concat(parts, ignore_index=True))
    records.to_parquet(out / "records.parquet", index=False)
    atomic_write_text(out / "run.json", json.dumps({**what, "rollout_steps": int(records.steps.sum()),
                                                    "search": cfg.to_dict()}, indent=1))


def extend(args):
    run = load_run(args.run)
    K_run = run.manifest["search"]["K"]
    best = run.records.groupby("puzzle").q_halt.max()
    low = best[best < args.q_threshold].index.to_list()
    print(f"{len(low)} puzzles with best Q < {args.q_threshold} at K={K_run}: {low}", file=sys.stderr)
    run_items(run, [WorkItem(p, p + 1, K_run, args.K) for p in low], config_of(run.manifest, K=args.K).validate(),
              args.out, {"extends": str(args.run), "K": args.K, "q_threshold": args.q_threshold, "puzzles": low})


def population(args):
    run = load_run(args.run)
    solved = run.records.groupby("puzzle").correct.any()
    hard = solved[~solved].index.to_list()
    sample = sorted(np.random.default_rng(0).choice(solved[solved].index, args.solved, replace=False).tolist())
    puzzles = sorted(hard + sample)
    print(f"unsolved by any rollout: {hard}; solved sample: {sample}", file=sys.stderr)
    cfg = config_of(run.manifest, K=args.K, seed=args.seed, mode="population", temperature=args.temperature,
                    resampling=args.resampling).validate()
    run_items(run, [WorkItem(p, p + 1, 0, args.K) for p in puzzles], cfg, args.out,
              {"population_of": str(args.run), "unsolved": hard, "solved_sample": sample})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extend")
    e.add_argument("run", type=Path)
    e.add_argument("--K", type=int, default=256)
    e.add_argument("--q-threshold", type=float, default=1.0)
    e.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("population")
    e.add_argument("run", type=Path)
    e.add_argument("--K", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--temperature", type=float, default=1.0)
    e.add_argument("--resampling", default="systematic")
    e.add_argument("--solved", type=int, default=10, help="how many solved puzzles to add to the unsolved ones")
    e.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    {"extend": extend, "population": population}[args.command](args)


if __name__ == "__main__":
    main()
