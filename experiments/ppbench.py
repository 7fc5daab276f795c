"""The PPBench table (issue 16): per puzzle type and overall, deterministic against PTRM, with 95% intervals.

    python experiments/ppbench.py CKPT [--data results/data/ppbench] [--limit 200] [--K 100] [--D 48]
        [--sigma 0.2] [--sigmas 0.1,0.5,1] [--curve-limit 50] [--curve-K 32] [--adaptive] [--out results/ppbench]

For each type and each set (heldout/<type>.csv: generated puzzles no training example came from; golden/<type>.csv:
the benchmark's own puzzles that fit the frame), one resumable sweep cell (ptrm.sweep) at the paper's K=100,
D=48, sigma 0.2 on the first --limit puzzles, and the deterministic model at D=16 and D=48 on the same puzzles
(both read from the one deterministic run the sweep stores).
Rows: deterministic D=16 / D=48, best-Q@K, verified@K (the highest-Q rollout the type's rules accept), mode@K,
pass@K, the share of the deterministic (D=48) error best-Q closes, and cost; "all" pools the types' puzzles.
The sigma curve: best-Q, verified and pass at k = --curve-K on the first --curve-limit held-out puzzles per
type; the sigma of the table is the head of its cell (the same rollouts), the others one sweep per type.
Writes OUT/table.md, OUT/table.csv, OUT/sigma_curve.csv and OUT/figures/sigma_curve.png.

--adaptive runs the README's stopping rule (--halt-q 0 --settle 3 --give-up-q -3): the exact @k estimators
still hold, at a fraction of the compute; the table says which search ran.
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ptrm import metrics, plots, rules, tasks
from ptrm.checkpoint import load_checkpoint
from ptrm.data import load_puzzles
from ptrm.io import atomic_write_text
from ptrm.presets import preset
from ptrm.report import compute_per_puzzle, markdown
from ptrm.runner import head
from ptrm.search import SearchConfig
from ptrm.sweep import cell_name, stored_baseline
from ptrm.store import load_run
from ptrm.tasks.ppbench.board import KINDS

from evidence import sweep

RULES = {rule: rules.get(rule).short for rule in ("best_q", "verified", "mode", "pass")}  # the table's columns


def with_ci(name, values) -> dict:
    low, high = metrics.mean_ci(values)
    return {name: 100 * np.mean(values), f"{name} ci_low": 100 * low, f"{name} ci_high": 100 * high}


def row(kind, source, per_puzzle: dict, cost: dict, D: int) -> dict:
    """One table row from per-puzzle values (0/1 or expectations) of every column; the error closed is
    against the deterministic model at the search's depth D."""
    base = f"det D={D}"
    out = {"type": kind, "set": source, "n": len(per_puzzle[base])}
    for name, values in per_puzzle.items():
        out.update(with_ci(name, values))
    out["error closed by best-Q"] = 100 * (out["best-Q"] - out[base]) / max(1e-9, 100 - out[base])
    return {**out, **cost}


def solved_at_depths(ck, pset, depths, cfg, folder) -> dict:
    """Whether the plain TRM solves each puzzle after each of `depths` supervision steps, read from the one
    deterministic run to the deepest that the sweep in `folder` stores (ptrm.sweep.stored_baseline; run there
    if the sweep has none that deep): a deterministic rollout's first d steps do not depend on how many follow."""
    det = stored_baseline(ck, pset, max(depths), cfg, folder)
    solved = np.stack(det.records.correct_steps.to_numpy())  # (N, D), every step recorded
    return {f"det D={d}": solved[:, d - 1] for d in depths}


def measure(ck, pset, kind, source, args, cfg) -> tuple[dict, dict]:
    run = sweep(ck, pset, [args.sigma], args.D, cfg, args.out / source / kind)[args.sigma]
    per_puzzle = solved_at_depths(ck, pset, (16, args.D), cfg, args.out / source / kind)
    per_puzzle.update({name: rules.per_puzzle_at_k(run.records, rule, args.K)[0].to_numpy()
                       for rule, name in RULES.items()})
    cost = compute_per_puzzle(run)
    return per_puzzle, {"GFLOP/puzzle": cost["flops"] / 1e9, "s/puzzle": cost["seconds"],
                        "steps/rollout": cost["steps"] / args.K}


def sigma_curve(ck, kind, pset, args, cfg, main_run, solved) -> list[dict]:
    """`solved`: the deterministic model's per-puzzle results on pset at D (sigma 0: every rule is the one
    rollout)."""
    n, k = min(args.curve_limit, len(pset)), args.curve_K
    small = pset.head(n)
    others = [s for s in args.sigmas if s != args.sigma]
    runs = {args.sigma: head(main_run, n, k)}
    if others:  # the table's sigma is the main run's head; the others are one sweep
        runs.update(sweep(ck, small, others, args.D, SearchConfig(**{**cfg.to_dict(), "K": k}), args.out / "sigma" / kind))
    rows = [{"type": kind, "sigma": 0.0, "n": n, **{name: 100 * solved[:n].mean() for name in RULES.values()}}]
    for s, run in sorted(runs.items()):
        rows.append({"type": kind, "sigma": s, "n": n,
                     **{name: 100 * rules.per_puzzle_at_k(run.records, rule, k)[0].mean()
                        for rule, name in RULES.items()}})
    return rows


def curve_figure(curve: pd.DataFrame, path, k: int) -> Path:
    kinds = list(dict.fromkeys(curve.type))
    fig = Figure(figsize=(3 * len(kinds), 3.2), layout="constrained")
    for ax, kind in zip(np.atleast_1d(fig.subplots(1, len(kinds), sharey=True)), kinds):
        df = curve[curve.type == kind]
        for name, style in (("pass", ":"), ("verified", "--"), ("best-Q", "-")):
            ax.plot(df.sigma, df[name], "o" + style, ms=3, label=f"{name}@{k}")
        ax.set(title=f"{kind} (n={df.n.iloc[0]})", xlabel="σ (0: deterministic)", ylim=(0, 100))
    fig.axes[0].set_ylabel("puzzles solved (%)")
    fig.axes[0].legend(fontsize=7)
    return plots.save(fig, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("ckpt", type=Path)
    p.add_argument("--data", type=Path, default=Path("results/data/ppbench"))
    p.add_argument("--types", default=",".join(k for k in KINDS))
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--K", type=int, default=100)
    p.add_argument("--D", type=int, default=48)
    p.add_argument("--sigma", type=float, default=0.2)
    p.add_argument("--sigmas", default="0.1,0.5,1.0")
    p.add_argument("--curve-limit", type=int, default=50)
    p.add_argument("--curve-K", type=int, default=32)
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/ppbench"))
    args = p.parse_args()
    args.sigmas = sorted({float(s) for s in args.sigmas.split(",")} | {args.sigma})
    ck = load_checkpoint(args.ckpt)
    cfg = SearchConfig(K=args.K, D=args.D, **preset("adaptive" if args.adaptive else "paper")).validate()

    rows, curve, pooled = [], [], {}
    for source in ("heldout", "golden"):
        for kind in args.types.split(","):
            pset = load_puzzles(args.data / source / f"{kind}.csv").head(args.limit)
            pset = tasks.get(pset.task).align(pset, args.ckpt, ck.cfg.puzzle_emb_ndim)  # sudoku.pt: 81-cell view
            per_puzzle, cost = measure(ck, pset, kind, source, args, cfg)
            rows.append(row(kind, source, per_puzzle, cost, args.D))
            for name, values in per_puzzle.items():
                pooled.setdefault(source, {}).setdefault(name, []).append(values)
            if source == "heldout":
                main_run = load_run(args.out / source / kind / cell_name(args.sigma, args.D))
                curve += sigma_curve(ck, kind, pset, args, cfg, main_run, per_puzzle[f"det D={args.D}"])
        rows.append(row("all", source, {k: np.concatenate(v) for k, v in pooled[source].items()}, {}, args.D))
    table = pd.DataFrame(rows)
    search = f"{'adaptive' if args.adaptive else 'fixed D'}, K={args.K}, D={args.D}, sigma {args.sigma:g}"
    atomic_write_text(args.out / "table.csv", table.to_csv(index=False))
    shown = table[[c for c in table.columns if not c.endswith(("ci_low", "ci_high"))]].copy()
    # each value with its interval, in one cell
    for name in [f"det D={d}" for d in sorted({16, args.D})] + list(RULES.values()):
        shown[name] = [f"{v:.1f} [{lo:.1f}, {hi:.1f}]" for v, lo, hi in
                       zip(table[name], table[f"{name} ci_low"], table[f"{name} ci_high"])]
    curve = pd.DataFrame(curve)
    atomic_write_text(args.out / "sigma_curve.csv", curve.to_csv(index=False))
    curve_figure(curve, args.out / "figures" / "sigma_curve.png", args.curve_K)
    text = (f"# PPBench: {args.ckpt}\n\nSearch: {search}; per type the first {args.limit} puzzles of each set; "
            f"% of puzzles solved [95% bootstrap interval over puzzles].\n\n{markdown(shown)}\n\n"
            f"Sigma curve (k = {args.curve_K}, first {args.curve_limit} held-out puzzles per type; sigma 0 is the "
            f"deterministic model at D={args.D}):\n\n{markdown(curve)}\n")
    atomic_write_text(args.out / "table.md", text)
    print(text)


if __name__ == "__main__":
    main()
