"""The paper's findings tested on one checkpoint, and the choice of the checkpoint to ship (issue 10).

    python experiments/evidence.py select CKPT [CKPT ...] [--adaptive]   # on sudoku-hard 1000-1255, never reported
    python experiments/evidence.py findings CKPT [--limit 500] [--sweep-limit 256]
    python experiments/evidence.py read RUN [RUN ...] --out DIR [--wide-K 256]   # (a), (b), (e) from finished runs
    python experiments/evidence.py curve RUN [RUN ...] --out DIR [--limit 256 --K 32]   # (c) from finished runs
    python experiments/evidence.py depth RUN --out DIR   # (d) from a finished K=16, D=4 N_sup per-step run

`select` runs K=16, sigma 0.3 at each checkpoint's N_sup on puzzles the reported tables never use (the
second 1,000 of results/data/sudoku-hard; every checkpoint ships the first 1,000 as its test set) and names
the one with the highest best-Q@16 (ties: the later step): results/evidence/select.md (--adaptive: the README's
stopping rule; select-adaptive.md).

`findings` runs three resumable sweeps (re-running skips finished cells; a cell cut short resumes from its
finished work items) on the checkpoint's own test set, then writes results/evidence/findings.md and figures:
  width   K=64 at N_sup, sigma 0.1 and 0.3, per-step records, the first --limit puzzles: the headline table.
          These are experiments/progress.py's cells for the same checkpoint (same folder), computed once.
  sigma   K=32 at N_sup on the first --sweep-limit puzzles, sigma in {0.2, 0.5, 1, 2}; sigma 0.1 and 0.3 are
          the heads of the width runs (the same rollouts: noise depends only on (puzzle, k, step)), sigma 0
          the deterministic model
  depth   K=16 at 4 N_sup with per-step records, at the sigma where best-Q@32 peaks, read at 2 N_sup as well
          (the first steps of a deeper rollout are the shallower rollout); N_sup is the width run
and tests each finding by a paired bootstrap over puzzles (95% interval of the mean per-puzzle difference):
  (a) best-Q@k tracks pass@k   (b) mode@k trails best-Q@k   (c) the sigma curve rises, then plateaus
  (d) width beats depth at equal FLOPs   (e) best-Q over all (rollout, step) pairs against final steps
Last, what limits the gain: the deterministic model's failures among the headline puzzles, searched at
K=--wide-K (256) at the better headline sigma: how many no rollout solves. `read --wide-K` does the same for
the puzzles no rollout of the finished runs solves, with the runs' own settings (an adaptive rule included).
"""
import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm import plots, rules
from ptrm.adaptive import best_step
from ptrm.checkpoint import load_checkpoint
from ptrm.data import load_puzzles
from ptrm.io import atomic_write_text
from ptrm.presets import preset
from ptrm.report import curve_ks, markdown, rule_table
from ptrm.runner import head, read_at_depth
from ptrm.search import DTYPES, SearchConfig
from ptrm.snapshots import PROGRESS, SOURCES, measure, paired
from ptrm.sweep import cell_name, run_sweep, stored_baseline
from ptrm.store import load_run

SIGMAS = [0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0]
OUT = Path("results/evidence")


def at_k(records, rule, k):
    return rules.per_puzzle_at_k(records, rule, k)[0].to_numpy()


def fmt(d) -> str:
    mean, low, high = d
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def sweep(ck, pset, sigmas, D, cfg, folder) -> dict:
    """The sweep's finished cells as {sigma: SearchRun}."""
    run_sweep(ck, pset, sigmas, [D], cfg, folder, log=print)
    return {s: load_run(folder / cell_name(s, D)) for s in sigmas}


def headline(width: dict, K: int, figures: Path) -> list[str]:
    """Per sigma: the run's summary table, the share of the deterministic error best-Q@K closes, and the width
    and Q-tracking figures."""
    lines = []
    for s, run in width.items():
        table = rule_table(run).set_index("method")
        det, best = table.at["deterministic TRM", "accuracy"], table.at[f"best-Q@{K}", "accuracy"]
        lines += [f"### sigma {s:g}", "", markdown(rule_table(run)), "",
                  f"- deterministic error closed by best-Q@{K}: {100 * (best - det) / (100 - det):.1f}%; "
                  f"best-Q@{K} trails pass@{K} by {table.at[f'pass@{K} (oracle)', 'accuracy'] - best:.1f} points",
                  ""]
        plots.width_scaling(run, figures / f"width_sigma={s:g}.png")
        plots.q_tracking(run, figures / f"q_tracking_sigma={s:g}.png")
    return lines


def selection(width: dict, K: int) -> list[str]:
    """Findings (a), (b) and (e) on runs with per-step records, keyed by sigma: they need no new rollouts."""
    lines = ["## (a) best-Q@k tracks pass@k, (b) mode@k trails best-Q@k", "",
             "Differences: mean per-puzzle difference in points [95% paired bootstrap interval].", "",
             "| sigma | k | best-Q@k | pass@k | mode@k | pass - best-Q | best-Q - mode |",
             "|---|---|---|---|---|---|---|"]
    for s, run in width.items():
        for k in curve_ks(K):
            b, p, m = (at_k(run.records, rule, k) for rule in ("best_q", "pass", "mode"))
            lines.append(f"| {s:g} | {k} | {100 * b.mean():.1f} | {100 * p.mean():.1f} | {100 * m.mean():.1f} | "
                         f"{fmt(paired(p, b))} | {fmt(paired(b, m))} |")
    lines += ["", f"## (e) best-Q over (rollout, step) pairs against best-Q over final steps, K={K}", "",
              "| sigma | final steps | all (k, t) pairs | difference |", "|---|---|---|---|"]
    for s, run in width.items():
        final, pairs = at_k(run.records, "best_q", K), at_k(best_step(run.records), "best_q", K)
        lines.append(f"| {s:g} | {100 * final.mean():.1f} | {100 * pairs.mean():.1f} | {fmt(paired(pairs, final))} |")
    return lines


def sigma_curve(ck, curve: dict, small, K: int, figures: Path, rule: str, folder: Path) -> tuple[list[str], float]:
    """Finding (c) from runs keyed by sigma over the puzzles `small` with K rollouts each, against the
    deterministic model (sigma 0) on the same puzzles, the run stored in `folder` (ptrm.sweep.stored_baseline; run
    there once): the table, the figure, and the sigma where best-Q peaks."""
    curve = dict(sorted(curve.items()))
    search = next(iter(curve.values())).manifest["search"]  # sigma 0 computed as the runs were
    dtype = search["dtype"]
    solved = stored_baseline(ck, small, search["D"], SearchConfig(dtype=dtype), folder).records.correct.to_numpy()
    plots.sigma_sweep(list(curve.values()), figures / "sigma_curve.png")
    peak = max(curve, key=lambda s: at_k(curve[s].records, "best_q", K).mean())
    top = at_k(curve[peak].records, "best_q", K)
    lines = [f"## (c) the sigma curve: K={K}, {rule}, {dtype}, the first {len(small)} test puzzles", "",
             f"| sigma | best-Q@{K} | pass@{K} | best-Q@{K} - sigma 0 | best-Q@{K} - peak |", "|---|---|---|---|---|",
             f"| 0 (deterministic) | {100 * solved.mean():.1f} | {100 * solved.mean():.1f} | - | "
             f"{fmt(paired(solved, top))} |"]
    for s, run in curve.items():
        b = at_k(run.records, "best_q", K)
        lines.append(f"| {s:g} | {100 * b.mean():.1f} | {100 * at_k(run.records, 'pass', K).mean():.1f} | "
                     f"{fmt(paired(b, solved))} | {fmt(paired(b, top))} |")
    return lines + ["", f"best-Q@{K} peaks at sigma {peak:g}.", ""], peak


def depth_table(runs: dict, sigma: float, n: int, figures: Path) -> list[str]:
    """Finding (d) from runs keyed by depth D (the shallowest N, the deepest 4 N) at one sigma on the same n
    puzzles: best-Q@k at equal rollout-steps per puzzle, k = budget / D, and the figure."""
    N, deepest = min(runs), max(runs)
    deep = runs[deepest]
    plots.depth_vs_width(list(runs.values()), figures / "depth_vs_width.png", sigma=sigma)
    lines = [f"## (d) width against depth at equal compute: sigma {sigma:g}, {rule_text(deep.manifest['search'])}, "
             f"{deep.manifest['search']['dtype']}, the first {n} test puzzles", "",
             "best-Q@k at depth D, with k = rollout-steps / D; differences as in (a).", "",
             f"| rollout-steps per puzzle | {' | '.join(f'D={D}' for D in runs)} | D={N} - D={deepest} |",
             "|" + "---|" * (len(runs) + 2)]
    for budget in (deepest * m for m in (1, 2, 4, 8, 16)):
        cells = {D: at_k(r.records, "best_q", budget // D) if budget // D <= r.manifest["search"]["K"] else None
                 for D, r in runs.items()}
        shown = [f"{100 * v.mean():.1f}" if v is not None else "-" for v in cells.values()]
        diff = "-" if cells[N] is None or cells[deepest] is None else fmt(paired(cells[N], cells[deepest]))
        lines.append(f"| {budget} | {' | '.join(shown)} | {diff} |")
    return lines


def depth(args):
    """Finding (d) from one finished fixed-depth run with per-step records (K rollouts of D steps), read at D/4
    and D/2 as well: the first steps of a deeper rollout are the shallower rollout. No new rollouts."""
    deep = load_run(args.run)
    D = deep.manifest["search"]["D"]
    if deep.manifest["search"].get("halt_q") is not None or not deep.manifest["search"]["per_step"] or D % 4:
        raise SystemExit(f"error: {args.run}: depth wants a fixed-D run with per-step records and D a multiple of 4")
    runs = {D // 4: read_at_depth(deep, D // 4), D // 2: read_at_depth(deep, D // 2), D: deep}
    lines = [f"# Width against depth read from {args.run}", "",
             f"Checkpoint {deep.manifest['checkpoint']['path']}, K={deep.manifest['search']['K']}.", ""]
    lines += depth_table(runs, deep.manifest["search"]["sigma"], deep.manifest["data"]["n_puzzles"],
                         args.out / "figures")
    atomic_write_text(args.out / "depth.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def best_sigma(width: dict, K: int) -> float:
    return max(width, key=lambda s: at_k(width[s].records, "best_q", K).mean())


def limits(ck, test, ids, sigma: float, cfg: SearchConfig, folder: Path, what: str) -> list[str]:
    """What limits the gain: the test puzzles `ids` (ones a narrower search left unsolved, `what` they are)
    searched with cfg.K rollouts; how many no rollout solves, and which."""
    ids = np.asarray(ids)
    if not len(ids):
        return []
    pset = test.subset(ids)
    wide = sweep(ck, pset, [sigma], cfg.D, cfg, folder)[sigma]
    rolled = wide.records.groupby("puzzle").correct.any()
    lines = ["", f"## Limits: the {len(pset)} {what} at K={cfg.K}, sigma {sigma:g}", "",
             "| k | pass@k | best-Q@k |", "|---|---|---|"]
    lines += [f"| {k} | {100 * at_k(wide.records, 'pass', k).mean():.1f} | "
              f"{100 * at_k(wide.records, 'best_q', k).mean():.1f} |" for k in curve_ks(cfg.K)]
    unsolved = ids[~rolled.to_numpy()]  # rolled is indexed 0..len(ids)-1, in the order of ids
    return lines + ["", f"{len(unsolved)} of the {len(pset)} are solved by none of {cfg.K} rollouts: test puzzles "
                        f"{', '.join(map(str, unsolved)) or 'none'} (of {', '.join(map(str, ids))}; renumbered "
                        f"0-{len(pset) - 1} in {folder}, so their noise draws differ from the first search's)."]


def select(args):
    pset = load_puzzles(args.data)
    window = pset.subset(slice(args.offset, args.offset + args.limit))
    suffix = "-adaptive" if args.adaptive else ""  # the two rules' choices are kept apart
    cfg = SearchConfig(K=args.K, dtype=args.dtype, **preset("adaptive" if args.adaptive else "paper"))
    rows = []
    for path in args.ckpts:
        ck = load_checkpoint(path)
        folder = args.out / f"select{suffix}" / path.stem
        run = sweep(ck, window, [args.sigma], ck.cfg.halt_max_steps, cfg, folder)[args.sigma]
        table = rule_table(run).set_index("method")
        rows.append({"checkpoint": str(path), "step": ck.meta.get("metrics", {}).get("train_steps"),
                     **{method: table.at[method, "accuracy"] for method in table.index},
                     "steps/rollout": run.records.steps.mean()})
    table = pd.DataFrame(rows)
    best = table.sort_values([f"best-Q@{args.K}", "step"]).iloc[-1]
    text = (f"Selection set: {args.data} puzzles {args.offset}-{args.offset + len(window) - 1} (K={args.K}, "
            f"sigma {args.sigma}, {rule_text(run.manifest['search'])}, {run.manifest['search']['dtype']}; not part "
            f"of any reported table).\n\n{markdown(table)}\n\nChosen: {best.checkpoint} (highest best-Q@{args.K}; "
            f"ties: the later step).\n")
    atomic_write_text(args.out / f"select{suffix}.md", text)
    print(text)


def findings(args):
    ck = load_checkpoint(args.ckpt)
    N = ck.cfg.halt_max_steps  # N_sup
    figures = args.out / "figures"
    lines = [f"# Findings on {args.ckpt}", ""]

    # Headline: K=64 at N_sup on --limit puzzles, the cells progress.py runs for this checkpoint.
    K = PROGRESS["K"]
    headline_cfg = SearchConfig(K=K, per_step=True)
    rows = measure(args.ckpt, PROGRESS["sigmas"], headline_cfg, args.limit, args.progress)
    width = {s: load_run(args.progress / args.ckpt.stem / cell_name(s, N)) for s in PROGRESS["sigmas"]}
    lines += [f"## Headline: K={K}, D={N}, the first {args.limit} test puzzles", ""]
    lines += headline(width, K, figures)
    atomic_write_text(args.out / "headline.csv", pd.DataFrame(rows).to_csv(index=False))
    lines += [f"The same rows with intervals, and the failures some rollout solves ({args.out}/headline.csv):",
              "", markdown(pd.DataFrame(rows).drop(columns=SOURCES)), ""]
    lines += selection(width, K)

    # (c) the sigma curve on the first --sweep-limit puzzles at K=32: the headline sigmas are the heads of
    # the headline runs (the same rollouts), sigma 0 is the deterministic model, the rest one sweep.
    n = args.sweep_limit
    small = ck.test_set().head(n)
    others = [s for s in SIGMAS if s > 0 and s not in width]
    curve = {**sweep(ck, small, others, N, SearchConfig(K=32), args.out / "sigma"),
             **{s: head(run, n, 32) for s, run in width.items()}}
    text, peak = sigma_curve(ck, curve, small, 32, figures, f"fixed D={N}", args.out / "sigma")
    lines += [""] + text

    # (d) width against depth at equal rollout-steps: one K=16 run of 4 N_sup steps read at 2 N_sup and
    # 4 N_sup, against the width runs at N_sup (K=64 at a headline sigma, else the sigma curve's K=32).
    deep = sweep(ck, small, [peak], 4 * N, SearchConfig(K=16, per_step=True), args.out / "depth")[peak]
    runs = {N: head(width[peak], n, K) if peak in width else curve[peak],
            2 * N: read_at_depth(deep, 2 * N), 4 * N: deep}
    lines += depth_table(runs, peak, n, figures) + [""]

    # What limits the gain: the deterministic model's failures among the headline puzzles (the run the headline
    # sweep stores), searched wider.
    test = ck.test_set().head(args.limit)
    det = stored_baseline(ck, test, N, headline_cfg, args.progress / args.ckpt.stem).records
    failed = np.flatnonzero(~det.correct.to_numpy())
    lines += limits(ck, test, failed, best_sigma(width, K), SearchConfig(K=args.wide_K, D=N),
                    args.out / "failures", "deterministic failures")
    atomic_write_text(args.out / "findings.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def rule_text(search: dict) -> str:
    return ("adaptive (halt_q {halt_q}, settle {settle}, give_up_q {give_up_q}), at most D={D}".format(**search)
            if search.get("halt_q") is not None else f"fixed D={search['D']}")


def checkpoint_of(manifest: dict):
    """The checkpoint a finished run was made with (refused if the file changed since) and its puzzle set."""
    ck = load_checkpoint(manifest["checkpoint"]["path"])
    if ck.sha256 != manifest["checkpoint"]["sha256"]:
        raise SystemExit(f"error: {manifest['checkpoint']['path']} is not the checkpoint the runs were made "
                         f"with (its sha256 differs)")
    source = manifest["data"]["source"]
    return ck, ck.test_set() if source.endswith("#test_set") else load_puzzles(source)


def curve(args):
    """Finding (c) from finished runs at several sigmas, each read on the first --limit puzzles with its first
    --K rollouts (the same rollouts a search with those settings makes): a sweep's cells and the heads of wider
    runs (e.g. the adaptive headline run) together. No new rollouts but the deterministic baseline (stored in
    OUT/deterministic/, run there once)."""
    runs = [head(load_run(folder), args.limit, args.K) for folder in args.runs]
    by_sigma = {run.manifest["search"]["sigma"]: run for run in runs}
    settings = {(run.manifest["checkpoint"]["sha256"], run.manifest["data"]["source"],
                 run.manifest["data"].get("offset", 0),
                 tuple((k, v) for k, v in run.manifest["search"].items() if k not in ("sigma", "K", "per_step",
                                                                                   "chunk_size", "dtype_reason")))
                for run in runs}
    if len(by_sigma) < len(runs) or len(settings) > 1:
        raise SystemExit("error: curve wants runs of one checkpoint, puzzle set and search rule (all but sigma and "
                         f"K), at distinct sigmas; got {len(settings)} settings, sigmas {list(by_sigma)}")
    ck, test = checkpoint_of(runs[0].manifest)
    lines, _ = sigma_curve(ck, by_sigma, test.head(args.limit), args.K, args.out / "figures",
                           rule_text(runs[0].manifest["search"]), args.out)
    lines = [f"# The sigma curve read from {', '.join(map(str, args.runs))}", "",
             f"Checkpoint {runs[0].manifest['checkpoint']['path']}.", ""] + lines
    atomic_write_text(args.out / "sigma.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def read(args):
    """Findings (a), (b), (e) and the headline tables from finished runs with per-step records (e.g. the adaptive
    headline run, results/progress-adaptive/*/sigma=*): no new rollouts."""
    runs = [load_run(folder) for folder in args.runs]
    width = {run.manifest["search"]["sigma"]: run for run in runs}
    same = {(run.manifest["checkpoint"]["sha256"], run.manifest["search"]["K"]) for run in runs}
    if len(width) < len(runs) or len(same) > 1:
        raise SystemExit(f"error: read wants runs of one checkpoint and K with distinct sigmas; got {len(same)} "
                         f"(checkpoint, K) pairs, sigmas {[run.manifest['search']['sigma'] for run in runs]}")
    K = same.pop()[1]
    lines = [f"# Findings read from {', '.join(map(str, args.runs))}", "",
             f"Checkpoint {runs[0].manifest['checkpoint']['path']}, {runs[0].manifest['data']['n_puzzles']} "
             f"test puzzles, K={K}, {rule_text(runs[0].manifest['search'])}.", ""]
    lines += headline(width, K, args.out / "figures") + selection(width, K)
    if args.wide_K:  # the puzzles no rollout solves, searched wider with the same settings (adaptive too)
        sigma = best_sigma(width, K)
        manifest = width[sigma].manifest
        ck, test = checkpoint_of(manifest)
        solved = width[sigma].records.groupby("puzzle").correct.any()  # indexed by full-set puzzle index
        cfg = SearchConfig(**{**{f.name: manifest["search"][f.name] for f in dataclasses.fields(SearchConfig)},
                              "K": args.wide_K})
        lines += limits(ck, test, solved.index[~solved.to_numpy()].to_numpy(), sigma, cfg, args.out / "unsolved",
                        f"puzzles no rollout of the K={K} run solves")
    atomic_write_text(args.out / "findings.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select", help="choose the checkpoint to ship on puzzles no table reports")
    s.add_argument("ckpts", nargs="+", type=Path)
    s.add_argument("--data", default="results/data/sudoku-hard")
    s.add_argument("--offset", type=int, default=1000)
    s.add_argument("--limit", type=int, default=256)
    s.add_argument("--K", type=int, default=16)
    s.add_argument("--sigma", type=float, default=0.3)
    s.add_argument("--adaptive", action="store_true", help="the README's stopping rule instead of fixed N_sup")
    s.add_argument("--dtype", choices=DTYPES, default="auto")
    f = sub.add_parser("findings", help="the paper's findings (a)-(e) and the headline table on one checkpoint")
    f.add_argument("ckpt", type=Path)
    f.add_argument("--limit", type=int, default=500)
    f.add_argument("--sweep-limit", type=int, default=256)
    f.add_argument("--wide-K", type=int, default=256, help="rollouts per deterministic failure in the limits table")
    f.add_argument("--progress", type=Path, default=Path("results/progress"))
    r = sub.add_parser("read", help="findings (a), (b), (e) from finished runs with per-step records")
    r.add_argument("runs", nargs="+", type=Path, help="run folders of one checkpoint and K, one per sigma")
    r.add_argument("--wide-K", type=int, help="also search the puzzles no rollout solves with this many rollouts")
    c = sub.add_parser("curve", help="finding (c), the sigma curve, from finished runs at several sigmas")
    c.add_argument("runs", nargs="+", type=Path, help="run folders of one checkpoint and rule, one per sigma")
    c.add_argument("--limit", type=int, default=256, help="read each run on its first LIMIT puzzles")
    c.add_argument("--K", type=int, default=32, help="... and its first K rollouts")
    d = sub.add_parser("depth", help="finding (d), width against depth, from one finished fixed-D per-step run")
    d.add_argument("run", type=Path, help="a run folder: K rollouts of D steps (D a multiple of 4), --per-step")
    for q in (s, f, r, c, d):
        q.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    {"select": select, "findings": findings, "read": read, "curve": curve, "depth": depth}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
