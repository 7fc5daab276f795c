"""Figures from PTRM records: width scaling, the sigma sweep, depth vs width, Q tracking, basin escape.

Every figure is drawn from data already computed: a run's records and manifest, a training curve.csv,
or the final states of ptrm.basin; nothing here runs the model. Each is drawn on a bare matplotlib Figure
(Agg canvas, no pyplot global state, nothing to close), and written atomically: a reader of plots/ never
sees half an image.

    plot_folder(DIR)   a run folder (manifest.json) -> width_scaling, q_tracking (if per-step records)
                       a sweep folder (subfolders that are runs) -> sigma_sweep (>= 2 sigmas), depth_vs_width
                       a training folder (curve.csv) -> curve (the learning curve)
    basin_figure(basin.basin_states(...))   the basin-escape figure
"""
from itertools import cycle
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, FixedLocator, LogLocator, MaxNLocator, NullFormatter, NullLocator

from ptrm import rules
from ptrm.basin import Basin
from ptrm.errors import PtrmError
from ptrm.io import atomic_write
from ptrm.report import curve_ks
from ptrm.runner import SearchRun
from ptrm.store import load_run

FORMATS = ("png", "svg", "pdf")
BANDS = "bands: 95% bootstrap CI over puzzles"


# ----------------------------------------------------------------------------- shared helpers

def settings(m: dict, sweep: bool = False) -> str:
    """The run's settings in one title line; a sweep leaves out what varies across its cells."""
    s = m["search"]
    parts = [Path(m["checkpoint"]["path"]).name]
    if not sweep:
        parts += [f"σ={s['sigma']:g}", f"D={s['D']}"]
    parts += [f"K={s['K']}", f"noise on {s['noise_on']}", f"seed {s['seed']}", f"{m['data']['n_puzzles']} puzzles"]
    return " · ".join(parts)


def save(fig: Figure, path) -> Path:
    """savefig beside the target, then rename into place."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise PtrmError(f"{path}: figure format must be one of {', '.join(FORMATS)}")
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
    return path


def _log2_axis(ax, ticks):
    """A log axis labelled with the plain values it is drawn at (1, 2, 4, ...) rather than 10^x."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in ticks])


def _log_axis(ax, unit):
    """Call after drawing: a log axis in engineering units (200 MFLOP, 1 GFLOP; 20 ms, 1 s), labelled at
    1-2-5 when the data span under two decades (else there would be one label or none), else at decades."""
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if high / low < 100 else (1.0,)))
    ax.xaxis.set_major_formatter(EngFormatter(unit=unit))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _band(ax, x, df, rule, label):
    """A rule's accuracy line (%) with its 95% bootstrap interval as a band of the same colour (faint: with
    few puzzles the bands of all rules overlap, and the lines must stay readable through them)."""
    c = rules.get(rule).color  # one colour per rule in every figure, so a reader learns them once
    ax.plot(x, df.accuracy * 100, "o-", color=c, ms=4, label=label)
    ax.fill_between(x, df.ci_low * 100, df.ci_high * 100, color=c, alpha=0.08, lw=0)


def _baseline(ax, m: dict):
    """The deterministic TRM (sigma 0, one rollout) as a dashed line, when the run measured it."""
    if "deterministic" in m:
        acc = m["deterministic"]["exact_accuracy"] * 100
        ax.axhline(acc, color="black", ls="--", lw=1, label=f"deterministic TRM ({acc:.1f}%)")


def _percent_axis(ax, label="puzzles solved (%)"):
    """Call after drawing: the data's own range (gaps near 100% stay visible), never beyond 0..100."""
    ax.set_ylabel(label)
    low, high = ax.get_ylim()
    low, high = max(low, -1), min(high, 101)
    if high - low < 10:  # a flat curve (say 0% everywhere) still gets a readable scale
        mid = min(max((low + high) / 2, 4), 96)
        low, high = mid - 5, mid + 5
    ax.set_ylim(low, high)
    ax.grid(alpha=0.3)


def load_sweep(folder) -> list[SearchRun]:
    """Every finished run directly under `folder` (unfinished cells, with no manifest yet, are skipped)."""
    runs = [load_run(d) for d in sorted(Path(folder).iterdir()) if (d / "manifest.json").is_file()]
    if not runs:
        raise PtrmError(f"{folder}: no finished runs in its subfolders (nothing to plot)")
    # Lines across cells only mean something if the cells differ in sigma and D alone.
    for key, get in [("checkpoint", lambda m: m["checkpoint"]["sha256"]), ("data", lambda m: m["data"]),
                     ("K", lambda m: m["search"]["K"]), ("noise target", lambda m: m["search"]["noise_on"]),
                     ("seed", lambda m: m["search"]["seed"])]:
        if len({str(get(r.manifest)) for r in runs}) > 1:
            raise PtrmError(f"{folder}: its runs differ in {key}; plot them separately")
    cells = [(r.manifest["search"]["sigma"], r.manifest["search"]["D"]) for r in runs]
    if len(set(cells)) < len(cells):
        raise PtrmError(f"{folder}: two runs share the same sigma and D; plot them separately")
    return runs


# ----------------------------------------------------------------------------- one run

def width_scaling(run: SearchRun, path) -> Path:
    """Accuracy vs k (log) for every rule, with the verifier headroom (pass - best-Q) shaded."""
    m = run.manifest
    ks = curve_ks(m["search"]["K"])
    table = rules.curves(run.records, ks).set_index("rule")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    passk, bestq = table.loc["pass"], table.loc["best_q"]
    ax.fill_between(ks, bestq.accuracy * 100, passk.accuracy * 100, facecolor="none", edgecolor="tab:red",
                    hatch="///", lw=0, alpha=0.5, label="verifier headroom (pass − best-Q)")
    for rule in table.index.unique():
        _band(ax, ks, table.loc[rule], rule, rules.get(rule).title("k"))
    _baseline(ax, m)
    _log2_axis(ax, ks)
    ax.set_xlabel("k: rollouts per puzzle (log scale)")
    _percent_axis(ax)
    ax.set_title(f"Width scaling\n{settings(m)}", fontsize=10)
    ax.legend(fontsize=8, loc="best", title=BANDS, title_fontsize=8)
    return save(fig, path)


def q_tracking(run: SearchRun, path) -> Path:
    """Mean q_halt and exact correctness after each supervision step, split by the final outcome."""
    rec = run.records
    if "q_steps" not in rec.columns:
        raise PtrmError("records have no per-step columns (run the search with --per-step)")
    q = np.stack(rec.q_steps.to_numpy())
    # Cell accuracy is not recorded per step; whole-answer correctness is, and is what the Q head predicts.
    right = np.stack(rec.correct_steps.to_numpy()).astype(float)
    steps = np.arange(1, q.shape[1] + 1)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_q, ax_c = fig.subplots(1, 2)
    for final, name, c in [(True, "finally correct", "tab:green"), (False, "finally wrong", "tab:red")]:
        rows = rec.correct.to_numpy() == final
        if not rows.any():
            continue
        label = f"{name} ({rows.sum()} rollouts)"
        lo, hi = np.percentile(q[rows], [25, 75], axis=0)
        ax_q.plot(steps, q[rows].mean(0), "o-", ms=3, color=c, label=label)
        ax_q.fill_between(steps, lo, hi, color=c, alpha=0.15, lw=0)
        ax_c.plot(steps, right[rows].mean(0) * 100, "o-", ms=3, color=c, label=label)
    ax_q.axhline(0, color="gray", lw=0.8)  # q_halt > 0: the model would halt here
    ax_q.set_ylabel("q_halt logit (mean, 25–75% band)")
    ax_c.set_ylabel("rollouts with the whole answer right (%)")
    _percent_axis(ax_c, ax_c.get_ylabel())
    for ax in (ax_q, ax_c):
        ax.set_xlabel("supervision step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_q.set_title("Q head confidence", fontsize=10)
    ax_c.set_title("Answer correctness", fontsize=10)
    fig.suptitle(f"Q tracking over supervision steps\n{settings(run.manifest)}", fontsize=10)
    return save(fig, path)


# ----------------------------------------------------------------------------- sweeps

def _sweep_table(runs: list[SearchRun], names, at_K: bool) -> pd.DataFrame:
    """curves() of every run (at k = K only, or at every curve_ks), tagged with its sigma, D and cost."""
    parts = []
    for r in runs:
        m = r.manifest
        K, n = m["search"]["K"], m["data"]["n_puzzles"]
        t = rules.curves(r.records, [K] if at_K else curve_ks(K), rules=names)
        # Compute at k is k rollouts' worth: FLOPs exactly, seconds pro rata of the run's measured wall clock.
        t["flops"] = t.k * m["flops_per_rollout"]
        t["seconds"] = t.k * m["wall_seconds"] / (n * K)
        parts.append(t.assign(sigma=m["search"]["sigma"], D=m["search"]["D"]))
    return pd.concat(parts, ignore_index=True)


def sigma_sweep(runs: list[SearchRun], path) -> Path:
    """The paper's Figure 7: accuracy at k = K vs sigma, pass@K and best-Q@K, one panel per D."""
    sigmas = {r.manifest["search"]["sigma"] for r in runs}
    if len(sigmas) < 2:
        raise PtrmError("a sigma sweep needs runs at two or more sigmas")
    table = _sweep_table(runs, ("pass", "best_q"), at_K=True)
    K = int(table.k.iloc[0])
    Ds = sorted(table.D.unique())
    fig = Figure(figsize=(4 * len(Ds) + 1, 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(Ds), sharex=True, sharey=True))
    for ax, D in zip(axes, Ds):
        cell = table[table.D == D].sort_values("sigma")
        for rule in ("pass", "best_q"):
            rows = cell[cell.rule == rule]
            _band(ax, rows.sigma.to_numpy(), rows, rule, rules.get(rule).title(K))
        _baseline(ax, next((r.manifest for r in runs if r.manifest["search"]["D"] == D
                            and "deterministic" in r.manifest), {}))
        ax.set_xlabel("σ: noise std on the latent (absolute)")
        _percent_axis(ax)
        ax.set_title(f"D = {D}", fontsize=10)
        ax.legend(fontsize=8, title=BANDS, title_fontsize=8)
    fig.suptitle(f"Accuracy vs noise scale\n{settings(runs[0].manifest, sweep=True)}", fontsize=10)
    return save(fig, path)


def pick_sigma(runs: list[SearchRun]) -> float:
    """The sigma whose best-Q@K, averaged over D, is highest: the setting a depth-vs-width plot shows.

    sigma 0 only if nothing else was run: its rollouts are all the same, so width buys nothing there.
    """
    noisy = [r for r in runs if r.manifest["search"]["sigma"] > 0] or runs
    table = _sweep_table(noisy, ("best_q",), at_K=True)
    return float(table.groupby("sigma").accuracy.mean().idxmax())


def depth_vs_width(runs: list[SearchRun], path, sigma: float | None = None) -> Path:
    """best-Q@k vs compute per puzzle (FLOPs, seconds): one line per D along k, one marker per k.

    A line spends compute on width (more rollouts at depth D); the grey line through the k = 1 points
    spends it on depth alone. Cells at other sigmas are left out: `sigma` (default: pick_sigma).
    """
    sigma = pick_sigma(runs) if sigma is None else sigma
    runs = [r for r in runs if r.manifest["search"]["sigma"] == sigma]
    if not runs:
        raise PtrmError(f"no run at sigma={sigma:g}")
    table = _sweep_table(runs, ("best_q",), at_K=False)
    Ds, ks = sorted(table.D.unique()), sorted(table.k.unique())
    markers = dict(zip(ks, cycle("os^Dvp*hX<>")))
    colors = colormaps["viridis"](np.linspace(0, 0.85, len(Ds)))
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, x, unit, xlabel in [(axes[0], "flops", "FLOP", "network FLOPs per puzzle (log scale)"),
                                (axes[1], "seconds", "s",
                                 "wall-clock time per puzzle (log scale; measured runs, pro rata)")]:
        for D, c in zip(Ds, colors):
            line = table[table.D == D].sort_values("k")
            ax.plot(line[x], line.accuracy * 100, "-", color=c, label=f"D = {D}")
            for row in line.itertuples():
                ax.plot(getattr(row, x), row.accuracy * 100, markers[row.k], color=c, ms=6)
        depth = table[table.k == 1].sort_values("D")
        if len(Ds) > 1:
            ax.plot(depth[x], depth.accuracy * 100, ":", color="gray", lw=1.5, label="depth only (k = 1)")
        _log_axis(ax, unit)
        ax.set_xlabel(xlabel)
        _percent_axis(ax, "best-Q@k: puzzles solved (%)")
    # Colour says D (first legend), marker shape says k (second legend, built from grey proxies).
    axes[0].legend(fontsize=8, loc="lower right")
    proxies = [axes[1].plot([], [], markers[k], color="gray", ls="none", label=f"k = {k}")[0] for k in ks]
    axes[1].legend(handles=proxies, fontsize=8, loc="lower right", title="rollouts", title_fontsize=8)
    fig.suptitle(f"Depth vs width at σ={sigma:g}\n{settings(runs[0].manifest, sweep=True)}", fontsize=10)
    return save(fig, path)


# ----------------------------------------------------------------------------- training

def learning_curve(curve_csv, path) -> Path:
    """A training run's curve.csv: losses (log) and held-out accuracy / Q AUROC against training minutes."""
    df = pd.read_csv(curve_csv)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot(df.minutes, df.lm_loss, label="LM loss")
    a.plot(df.minutes, df.q_loss, label="Q loss")
    a.set(xlabel="training minutes", ylabel="loss", yscale="log", title="training loss")
    a.legend()
    b.plot(df.minutes, df.test_exact, label="test exact accuracy")
    b.plot(df.minutes, df.train_exact, label="train exact (live rows)", alpha=0.6)
    b.plot(df.minutes, df.q_auroc, label="AUROC of final q_halt", ls="--")
    b.set(xlabel="training minutes", ylim=(0, 1), title="held-out accuracy (EMA weights)")
    b.legend()
    return save(fig, path)


def adaptive_curves(curves: pd.DataFrame, path) -> Path:
    """Fixed-D against adaptive search: best-Q@k (and pass@k) against network FLOPs and wall seconds per
    puzzle. `curves`: rules.curves rows with columns search, flops_per_puzzle, seconds_per_puzzle."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, x, unit in zip(axes, ("flops_per_puzzle", "seconds_per_puzzle"), ("FLOP", "s")):
        for (search, rule), df in curves.groupby(["search", "rule"], sort=False):
            style = "-" if search == "fixed" else "--"
            ax.plot(df[x], df.accuracy * 100, "o" + style, ms=3, color=rules.get(rule).color,
                    label=f"{rules.get(rule).title()}, {search}", alpha=1.0 if search == "fixed" else 0.8)
            ax.fill_between(df[x], df.ci_low * 100, df.ci_high * 100, color=rules.get(rule).color, alpha=0.06, lw=0)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(EngFormatter(unit=unit))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{'network FLOPs' if unit == 'FLOP' else 'wall time'} per puzzle (k = 1..K rollouts)")
        _percent_axis(ax)
    axes[0].legend(fontsize=8)
    return save(fig, path)


RING = dict(ms=7, mfc="none")  # an open marker, for a series another may cover


def training_progress(table: pd.DataFrame, path) -> Path:
    """PTRM gain vs training progress (experiments/progress.py's table): left, deterministic, best-Q@K and
    pass@K against training steps (one line style per sigma); right, the share of the deterministic error
    best-Q closes and the share of failures some rollout solves."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    a, b = fig.subplots(1, 2, sharex=True)
    det = table.drop_duplicates("step")
    a.plot(det.step, det.deterministic, "o-", color="black", ms=3, label="deterministic TRM")
    for (sigma, df), style in zip(table.groupby("sigma"), cycle(["-", "--", ":", "-."])):
        # The oracle (pass) first, as open rings, and best-Q over it: where the two are equal (best-Q found
        # every puzzle some rollout solved) both stay visible.
        for rule, name, ring in (("pass", "pass", RING), ("best_q", "best-Q", {})):
            label = f"{rules.get(rule).title(df.K.iloc[0])}, σ={sigma:g}"
            a.plot(df.step, df[name], "o" + style, **{"ms": 3, **ring}, color=rules.get(rule).color, label=label)
            a.fill_between(df.step, df[f"{name} ci_low"], df[f"{name} ci_high"], color=rules.get(rule).color, alpha=0.08, lw=0)
        b.plot(df.step, df["failures some rollout solves"], "o" + style, **RING, color=rules.get("pass").color,
               label=f"failures some rollout solves, σ={sigma:g}")
        b.plot(df.step, df["error closed by best-Q"], "o" + style, ms=3, color=rules.get("best_q").color,
               label=f"deterministic error closed by best-Q, σ={sigma:g}")
    low = min(table.deterministic.min(), table[[c for c in table if c.endswith("ci_low")]].min().min())
    a.set(xlabel="training steps", ylim=(max(0, 10 * np.floor(low / 10 - 0.2)), 100), ylabel="puzzles solved (%)",
          title=f"{table.n.iloc[0]} held-out puzzles ({BANDS})")
    b.set(xlabel="training steps", ylim=(0, 100), ylabel="%", title="what the noise buys")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    return save(fig, path)


# ----------------------------------------------------------------------------- folders

def plot_folder(folder, fmt: str = "png", out=None) -> list[Path]:
    """Every figure that applies to a run or sweep folder, written to out (default FOLDER/plots)."""
    folder = Path(folder)
    if fmt not in FORMATS:
        raise PtrmError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not folder.is_dir():
        raise PtrmError(f"{folder}: not a folder")
    out = Path(out) if out else folder / "plots"
    if (folder / "curve.csv").is_file():  # a training run's folder
        return [learning_curve(folder / "curve.csv", out / f"curve.{fmt}")]
    if (folder / "manifest.json").is_file():
        run = load_run(folder)
        paths = [width_scaling(run, out / f"width_scaling.{fmt}")]
        if "q_steps" in run.records.columns:
            paths.append(q_tracking(run, out / f"q_tracking.{fmt}"))
        return paths
    runs = load_sweep(folder)
    paths = []
    if len({r.manifest["search"]["sigma"] for r in runs}) > 1:
        paths.append(sigma_sweep(runs, out / f"sigma_sweep.{fmt}"))
    paths.append(depth_vs_width(runs, out / f"depth_vs_width.{fmt}"))
    return paths


# ----------------------------------------------------------------------------- basin escape

def basin_figure(b: Basin, path) -> Path:
    """The paper's Figure 5: the K final states on their first two principal components (numpy SVD),
    correct vs wrong, with the deterministic TRM's state projected onto the same components."""
    if len(b.states) < 2:
        raise PtrmError("a basin plot needs K >= 2 rollouts")
    mean = b.states.mean(0)
    _, s, vt = np.linalg.svd(b.states - mean, full_matrices=False)
    xy, det = (b.states - mean) @ vt[:2].T, (b.det_state - mean) @ vt[:2].T
    share = s ** 2 / max((s ** 2).sum(), 1e-30) * 100  # sigma 0: identical states, no variance at all
    correct = b.records.correct.to_numpy()
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    for mask, name, c in [(~correct, "wrong", "tab:red"), (correct, "correct", "tab:green")]:
        ax.scatter(xy[mask, 0], xy[mask, 1], s=22, color=c, alpha=0.7, lw=0,
                   label=f"{name} rollouts ({mask.sum()})")
    best = int(np.argmax(b.records.q_halt.to_numpy()))  # the best-Q pick, ties to the lowest k
    ax.scatter(*xy[best], s=140, facecolor="none", edgecolor="black", lw=1.2,
               label=f"best-Q pick ({'correct' if correct[best] else 'wrong'})")
    ax.scatter(*det, marker="*", s=200, color="black",
               label=f"deterministic TRM ({'correct' if b.det_correct else 'wrong'})")
    ax.set_xlabel(f"PC1 ({share[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({share[1]:.0f}% of variance)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Basin escape: {correct.sum()} of {len(correct)} rollouts solve puzzle {b.puzzle}\n"
                 f"final zH (token 0) of each rollout, PCA\n{b.settings}", fontsize=9)
    return save(fig, path)
