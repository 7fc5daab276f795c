"""The budget-matched comparison (issue 33): independent best-of-K, adaptive width and population search on one
accuracy-versus-rollout-steps plot, on the same puzzles.

    python experiments/modes.py extend RUN --K 256 --q-threshold 1 [--after DIR ..] --out DIR
    python experiments/modes.py population RUN --K 64 --seed 0 --solved 10 --out DIR   # the hard subset
    python experiments/modes.py compare RUN --extra DIR [DIR ..] --population DIR [DIR ..] --out DIR --figure PNG
    python experiments/modes.py deterministic RUN --out FILE   # the plain TRM's correctness per puzzle of RUN
    python experiments/modes.py diagnostics RUN [RUN ...] --deterministic FILE --out FILE

`extend` runs, for every puzzle of RUN whose best Q over its K_run rollouts is below --q-threshold, the rollouts
k = K_run .. K-1 with RUN's own settings: the rollouts a wider run (or further waves of adaptive width, whose
rollout indices continue) would add, with the same noise, so RUN plus them is exactly that wider run on those
puzzles. With --after (earlier extend runs of RUN, in order) it goes on from the K the last of them reached, for the
puzzles whose best Q over all those rollouts is still below the threshold. Finished work items are kept in DIR/parts
and not run again.

`population` runs population search (ptrm.population) with RUN's settings on the puzzles no rollout of RUN
solves plus --solved puzzles it solves (a seeded sample): each puzzle's K particles as one work item of the
whole set, so its records are those a population search over all the puzzles gives for it.

`compare` puts the methods on one accuracy-versus-rollout-steps figure, with 95% bootstrap intervals over puzzles:
  left, all of RUN's puzzles: independent best-Q@k (the exact estimator over RUN's K rollouts, at the expected
        rollout-steps of k rollouts) and adaptive width, simulated exactly (ptrm.waves.simulate) from RUN's
        records plus `extend`'s (so the waves' cap can pass RUN's K for the puzzles that ask for it)
  right, the population runs' puzzles: the same two, and population search at each seed (particles are not
        independent: no @k estimator, one point per seed)
and writes the table beside it (OUT/summary.md).
"""
import argparse
import dataclasses
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matplotlib.figure import Figure

from ptrm import diagnostics, metrics, rules, waves
from ptrm.checkpoint import load_checkpoint
from ptrm.evaluate import evaluate
from ptrm.io import atomic_write, atomic_write_text
from ptrm.plots import save
from ptrm.report import curve_ks, markdown
from ptrm.plan import ExecutionPlan
from ptrm.runfolder import PartStore
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
    plan = ExecutionPlan.resolve(ck.model.device, cfg.dtype, cfg.chunk_size)
    cfg = replace(cfg, chunk_size=plan.chunk_size)
    if not cfg.whole_puzzles:  # batches of the plan's size (records agree across sizes)
        items = [piece for i in items for piece in
                 waves.wave_items({p: (i.k0, i.k1) for p in range(i.p0, i.p1)}, plan.chunk_size)]
    done = store.load(items)
    parts = list(done.values())
    for item in items:
        if item in done:
            continue
        parts.append(run_work_item(ck.model, pset, item, cfg, plan))
        store.save(parts[-1], 0.0)
        print(f"puzzle {item.p0}: {int(parts[-1].steps.sum())} rollout-steps", file=sys.stderr, flush=True)
    records = sort_records(pd.concat(parts, ignore_index=True))
    records.to_parquet(out / "records.parquet", index=False)
    atomic_write_text(out / "run.json", json.dumps({**what, "rollout_steps": int(records.steps.sum()),
                                                    "search": cfg.to_dict()}, indent=1))


def widened(run, extras: list[Path]) -> tuple[pd.DataFrame, list[int]]:
    """RUN's records with the rollouts of earlier `extend` runs (each starts where the one before it stopped),
    and the K each of them reached."""
    caps = [json.loads((folder / "run.json").read_text())["K"] for folder in extras]
    parts = [run.records, *(pd.read_parquet(folder / "records.parquet") for folder in extras)]
    return sort_records(pd.concat(parts, ignore_index=True)), caps


def extend(args):
    run = load_run(args.run)
    records, caps = widened(run, args.after)
    K_from = caps[-1] if caps else run.manifest["search"]["K"]
    best = records.groupby("puzzle").q_halt.max()
    low = best[best < args.q_threshold].index.to_list()
    print(f"{len(low)} puzzles with best Q < {args.q_threshold} at K={K_from}: {low}", file=sys.stderr)
    run_items(run, [WorkItem(p, p + 1, K_from, args.K) for p in low],
              config_of(run.manifest, K=args.K, chunk_size=None).validate(),
              args.out, {"extends": str(args.run), "after": [str(a) for a in args.after], "K_from": K_from,
                         "K": args.K, "q_threshold": args.q_threshold, "puzzles": low})


def population(args):
    run = load_run(args.run)
    solved = run.records.groupby("puzzle").correct.any()
    hard = solved[~solved].index.to_list()
    sample = sorted(np.random.default_rng(0).choice(solved[solved].index, args.solved, replace=False).tolist())
    rule = {"give_up_q": None} if args.no_give_up else {}
    puzzles = sorted(hard + sample)
    print(f"unsolved by any rollout: {hard}; solved sample: {sample}", file=sys.stderr)
    cfg = config_of(run.manifest, K=args.K, seed=args.seed, mode="population", temperature=args.temperature,
                    resampling=args.resampling, **rule).validate()
    run_items(run, [WorkItem(p, p + 1, 0, args.K) for p in puzzles], cfg, args.out,
              {"population_of": str(args.run), "unsolved": hard, "solved_sample": sample})


def best_q(records: pd.DataFrame) -> pd.Series:
    """Per puzzle: whether the rollout of highest q_halt (ties: lowest k) is right."""
    return metrics.best_q_rows(records).set_index("puzzle").correct.astype(float)


def point(method: str, setting: str, correct: pd.Series, steps: float, solved: set, baseline: set) -> dict:
    """One method's accuracy (% with its bootstrap interval over puzzles) at its rollout-steps; `lost`: of the
    puzzles best-Q over the run's K solves (`solved`) and of those the deterministic TRM solves (`baseline`), how many (in
    expectation) the method does not."""
    low, high = metrics.mean_ci(correct.to_numpy())
    lost = lambda puzzles: float((1 - correct.reindex(sorted(puzzles & set(correct.index)))).sum())
    return {"method": method, "setting": setting, "puzzles": len(correct), "solved": float(correct.sum()),
            "accuracy": 100 * correct.mean(), "ci_low": 100 * low, "ci_high": 100 * high, "rollout_steps": steps,
            "lost_vs_K": lost(solved), "lost_vs_deterministic": lost(baseline)}


def methods(records: pd.DataFrame, wide: pd.DataFrame, cfg: SearchConfig, D: int, budgets: list,
            baseline: set, caps: list) -> list[dict]:
    """Independent best-Q@k for k = 1, 2, 4, .. K and adaptive width at each (K0, threshold, cap, budget); `caps`:
    the K each `extend` reached (its puzzles: those of best Q below its threshold before it)."""
    K = records.k.max() + 1
    solved = set(best_q(records).pipe(lambda c: c[c == 1]).index)  # what best-Q@K solves: the new modes must keep it
    mean_steps = records.groupby("puzzle").steps.mean()
    rows = [point("independent", f"best-Q@{k}", rules.per_puzzle_at_k(records, "best_q", k)[0],
                  k * mean_steps.sum(), solved, baseline) for k in curve_ks(K)]
    grid = [(k0, t, K, None) for k0, t in itertools.product((4, 8), (2.0, 4.0))]
    if caps:  # past K where `extend` ran the rollouts of the puzzles of low best Q
        grid += [(k0, t, caps[0], b) for k0, t, b in itertools.product((4, 8, 16), (0.0, 1.0), budgets)]
        grid += [(k0, 4.0, caps[0], None) for k0 in (4, 8, 16)]
        grid += [(k0, 4.0, cap, b) for cap in caps[1:] for k0, b in itertools.product((4, 8), budgets)]
    for k0, threshold, cap, budget in grid:
        if budget and budget < records.puzzle.nunique() * k0 * D:
            continue  # the budget cannot pay for a first wave at D steps a rollout (ptrm.waves.check_budget)
        w = waves.simulate(wide, replace(cfg, mode="waves", K=cap, k0=k0, q_threshold=threshold, budget=budget), D)
        rows.append(point("adaptive width", f"K0={k0} q<{threshold:g} cap {cap} budget {budget or '-'}",
                          best_q(w), int(w.steps.sum()), solved, baseline))
    return rows


def compare(args):
    det = pd.read_parquet(args.deterministic)
    baseline = set(det.puzzle[det.correct])
    print(f"deterministic TRM: {len(baseline)} of {len(det)} right", file=sys.stderr)
    run = load_run(args.run)
    records, D = run.records, run.manifest["search"]["D"]
    wide, caps = widened(run, args.extra)
    cfg = config_of(run.manifest)
    everything = pd.DataFrame(methods(records, wide, cfg, D, [None, args.budget], baseline, caps)).assign(panel="all")
    pops = [pd.read_parquet(p / "records.parquet") for p in args.population]
    subset = sorted(set(pops[0].puzzle))
    on = lambda r: r[r.puzzle.isin(subset)]
    part = methods(on(records), on(wide), cfg, D, [None], baseline, caps)
    solved = set(best_q(on(records)).pipe(lambda c: c[c == 1]).index)
    for folder, pop in zip(args.population, pops):
        search = json.loads((folder / "run.json").read_text())["search"]
        setting = f"K={pop.k.max() + 1} T={search['temperature']:g} seed {search['seed']}" + (
            " no give-up" if search["give_up_q"] is None else "")
        part.append(point("population", setting, best_q(pop), int(pop.steps.sum()), solved, baseline))
    table = pd.concat([everything, pd.DataFrame(part).assign(panel="subset")], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "summary.md", "\n".join([
        f"# Budget-matched comparison: {run.manifest['checkpoint']['path']}, sigma {cfg.sigma}, D={D}",
        "", f"`all`: the {records.puzzle.nunique()} puzzles of {args.run}; `subset`: the {len(subset)} puzzles the "
        f"population runs searched ({subset}). Lost: puzzles best-Q over the run's K={records.k.max() + 1} "
        f"rollouts solves that the method does not (`lost_vs_K`), and of the {len(baseline)} the deterministic TRM "
        "solves (`lost_vs_deterministic`); expectations over k-subsets for best-Q@k.", "",
        markdown(table.round(2)), ""]))
    figure(table, args.figure)
    print(markdown(table.round(2)))


def figure(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(11, 4.2))
    for ax, (panel, title) in zip(fig.subplots(1, 2), [("all", "all puzzles"), ("subset", "hard subset")]):
        t = table[table.panel == panel]
        for method, style in [("independent", "o-"), ("adaptive width", "s"), ("population", "^")]:
            m = t[t.method == method]
            if m.empty:
                continue
            err = [m.accuracy - m.ci_low, m.ci_high - m.accuracy]
            ax.errorbar(m.rollout_steps, m.accuracy, yerr=err, fmt=style, capsize=3, label=method, alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("rollout-steps (all puzzles together)")
        ax.set_ylabel("best-Q solved (%)")
        ax.set_title(f"{title} ({int(t.puzzles.iloc[0])} puzzles)")
        ax.grid(alpha=0.3)
        ax.legend()
    save(fig, path)


def deterministic(args):
    """The deterministic TRM (no noise, RUN's D and dtype) on RUN's puzzles: right or not, per puzzle (a manifest
    keeps only its accuracy)."""
    run = load_run(args.run)
    m = run.manifest
    ck = load_checkpoint(m["checkpoint"]["path"])
    first, n = m["data"].get("offset", 0), m["data"]["n_puzzles"]
    pset = ck.test_set().subset(slice(first, first + n))
    plan = ExecutionPlan.resolve(ck.model.device, m["search"]["dtype"])
    correct = evaluate(ck.model, pset, plan, steps=m["search"]["D"]).records["correct"].to_numpy()
    table = pd.DataFrame({"puzzle": np.arange(first, first + n), "correct": correct,
                          "checkpoint_sha256": m["checkpoint"]["sha256"]})
    with atomic_write(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    print(f"deterministic: {int(correct.sum())}/{n} right (manifest: {m['deterministic']['exact_accuracy']:.3f})")


def diagnostics_of(args):
    """The label-free diagnostics of each run and their AUROCs against its labels, one table per run."""
    det = pd.read_parquet(args.deterministic) if args.deterministic else None
    lines = ["# Diagnostics without labels, checked against the labels (ptrm.diagnostics)", ""]
    for folder in args.runs:
        run = load_run(folder)
        m = run.manifest
        mine = det is not None and (det.checkpoint_sha256 == m["checkpoint"]["sha256"]).all()
        baseline = det.set_index("puzzle").correct if mine else None
        helps = ("the deterministic TRM is wrong and the best-Q pick right" if mine else "the best-Q pick is right "
                 "although fewer than half of the rollouts are (no deterministic table of this checkpoint)")
        lines += [f"## {folder}", "", f"{m['data']['n_puzzles']} puzzles, K={m['search']['K']}, sigma "
                  f"{m['search']['sigma']}, mode {m['search'].get('mode', 'independent')}; search_helps: {helps}", "",
                  markdown(diagnostics.table(diagnostics.summary(run.records, baseline)).round(3)), ""]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extend")
    e.add_argument("run", type=Path)
    e.add_argument("--K", type=int, default=256)
    e.add_argument("--q-threshold", type=float, default=1.0)
    e.add_argument("--after", type=Path, nargs="*", default=[],
                   help="earlier extend runs of RUN, in order: go on from the last")
    e.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("population")
    e.add_argument("run", type=Path)
    e.add_argument("--K", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--temperature", type=float, default=1.0)
    e.add_argument("--resampling", default="systematic")
    e.add_argument("--solved", type=int, default=10, help="how many solved puzzles to add to the unsolved ones")
    e.add_argument("--no-give-up", action="store_true", help="RUN's stopping rule without its give-up part")
    e.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("run", type=Path)
    c.add_argument("--extra", type=Path, nargs="+", required=True, help="`extend` runs of RUN, in order")
    c.add_argument("--population", type=Path, nargs="+", required=True)
    c.add_argument("--budget", type=int, default=100_774, help="the adaptive-width budget to match (rollout-steps)")
    c.add_argument("--deterministic", type=Path, required=True, help="the `deterministic` table of RUN's puzzles")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--figure", type=Path, required=True)
    g = sub.add_parser("diagnostics")
    g.add_argument("runs", type=Path, nargs="+")
    g.add_argument("--deterministic", type=Path, help="the `deterministic` table of the runs' puzzles")
    g.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("deterministic")
    d.add_argument("run", type=Path)
    d.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    {"extend": extend, "population": population, "compare": compare,
     "diagnostics": diagnostics_of, "deterministic": deterministic}[args.command](args)


if __name__ == "__main__":
    main()
