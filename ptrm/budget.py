"""What a search will cost, before it starts: the memory of its records and the time of its rollout steps,
checked against a stated budget so that a mistyped `--samples 100000000` is refused with the estimate, not
discovered hours later.

Time is measured, not guessed: one supervision step of a small batch of rollouts on this machine (milliseconds
for the small models, about a second for the largest on a CPU), times the K x puzzles x D rollout steps of the
run, over the workers. Memory is the records' bytes per row, measured on that batch, times the rows, times
three: at the end of a search the records are held as items, concatenated and sorted at once. Both are upper
bounds for an adaptive search, whose rollouts may stop before D steps.
"""
import os
import time
from dataclasses import dataclass, replace

from ptrm.errors import PtrmError
from ptrm.plan import ExecutionPlan
from ptrm.search import SearchConfig, WorkItem, run_work_item

CALIBRATION_ROLLOUTS = 32  # rows of the timed step: enough to fill a CPU's vector units, few enough to be quick
PEAK_COPIES = 3            # items, their concatenation and the sorted records, at once
DEFAULT_HOURS = 24.0


@dataclass(frozen=True)
class Estimate:
    rollouts: int            # K x puzzles
    rollout_steps: int       # K x puzzles x D
    seconds: float
    peak_bytes: int

    def describe(self) -> str:
        return (f"{self.rollouts:,} rollouts, {self.rollout_steps:,} rollout steps: about "
                f"{_duration(self.seconds)} and {self.peak_bytes / 2**30:.1f} GiB of records on this machine")


def estimate(model, pset, cfg: SearchConfig, n_puzzles: int, depths=None, workers: int = 1) -> Estimate:
    """The cost of searching `n_puzzles` of `pset` with `cfg` at each depth of `depths` in turn (a sweep's
    cells; default: cfg's D), from one timed step of a few rollouts of its first puzzle."""
    depths = depths or [cfg.D or model.cfg.halt_max_steps]  # D: supervision steps
    rollouts = n_puzzles * cfg.K
    b = min(CALIBRATION_ROLLOUTS, rollouts)
    one_step = replace(cfg, K=b, D=1, halt_q=None, settle=0, stop_q=None, give_up_q=None)
    plan = ExecutionPlan.resolve(model.device, cfg.dtype, cfg.chunk_size)
    run_work_item(model, pset, WorkItem(0, 1, 0, b), one_step, plan)  # the first call pays one-off costs
    t = time.perf_counter()
    records = run_work_item(model, pset, WorkItem(0, 1, 0, b), one_step, plan)
    per_row_step = (time.perf_counter() - t) / b
    row_bytes = records.memory_usage(deep=True).sum() / b + (13 * (max(depths) - 1) if cfg.per_step else 0)
    steps = rollouts * sum(depths)  # per_step keeps 13 more bytes per row and step: q, correct, answer hash
    return Estimate(rollouts, steps, steps * per_row_step / max(1, workers), int(PEAK_COPIES * row_bytes * rollouts))


def memory_bytes() -> int:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check(est: Estimate, hours: float, gib: float | None) -> None:
    """Refuse a run over `hours` or `gib` (None: this machine's memory), with the estimate and the way past."""
    if not hours > 0 or (gib is not None and not gib > 0):
        raise PtrmError(f"--budget-hours and --budget-gib must be > 0, got {hours} and {gib}")
    limit = memory_bytes() if gib is None else gib * 2**30
    over = []
    if est.seconds > hours * 3600:
        over.append(f"{hours:g} h")
    if est.peak_bytes > limit:
        over.append(f"{limit / 2**30:.1f} GiB")
    if over:
        raise PtrmError(f"{est.describe()}, over the budget of {' and '.join(over)}; fewer puzzles or rollouts, "
                        f"a larger --budget-hours/--budget-gib, or --yes to run it anyway")


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"
