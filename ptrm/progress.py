"""What a running search shows: rollout steps done (in-process the bar moves every supervision step, not every
work item), puzzles done, the running best-Q accuracy where the puzzles have labels, and an ETA
from the average rate of this session (resumed work is counted done, not fast).

On a terminal it is a tqdm bar; in a log (stderr not a terminal) one line per finished work item; nothing at all
when quiet.
"""
import sys
import time

import numpy as np
import pandas as pd
from tqdm import tqdm


class SearchProgress:
    def __init__(self, desc: str, n_puzzles: int, K: int, D: int, labelled: bool, done: list, show: bool = True,
                 stream=None):
        self.desc, self.n_puzzles, self.labelled = desc, n_puzzles, labelled
        self.K, self.D = K, D  # rollouts per puzzle, supervision steps
        self.stream = stream or sys.stderr
        self.lines = show and not self.stream.isatty()
        self.best = None  # per puzzle so far: its best rollout (q, -k, correct) and how many rollouts are in (n)
        self.total = n_puzzles * K * D  # rollout steps
        self.t0, self.in_item = time.perf_counter(), 0
        for records in done:  # resumed work items
            self._count(records)
        self.done = self.started = sum(len(r) for r in done) * D
        self.bar = tqdm(total=self.total, initial=self.done, unit="step", unit_scale=True, smoothing=0, desc=desc,
                        disable=not show or self.lines, file=self.stream)
        self._postfix()

    def step(self, rows: int) -> None:
        """`rows` rollouts of the item in progress ran one more supervision step."""
        self.in_item += rows
        self.bar.update(rows)

    def item(self, records: pd.DataFrame) -> None:
        """A work item finished: its rollouts count D steps each (stopped ones ran fewer, and cost that less)."""
        self._count(records)
        full = len(records) * self.D
        self.bar.update(full - self.in_item)
        self.done += full
        self.in_item = 0
        self._postfix()
        if self.lines:
            elapsed = time.perf_counter() - self.t0
            rate = (self.done - self.started) / elapsed if elapsed > 0 else 0
            left = f", about {(self.total - self.done) / rate:.0f} s left" if rate and self.done < self.total else ""
            print(f"{self.desc}: {self.done / self.total:.0%} of {self.total:,} rollout steps, {self._summary()}, "
                  f"{elapsed:.0f} s{left}", file=self.stream, flush=True)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _count(self, records: pd.DataFrame) -> None:
        """Fold an item's rollouts into each puzzle's best so far (highest q_halt, ties: lowest k) and count."""
        item = pd.DataFrame({"q": records.q_halt.to_numpy(), "neg_k": -records.k.to_numpy(),
                             "correct": records.correct.to_numpy(), "n": 1}, index=records.puzzle.to_numpy())
        both = item if self.best is None else pd.concat([self.best, item])
        n = both.groupby(level=0).n.sum()
        best = both.sort_values(["q", "neg_k"], ascending=False, kind="stable").groupby(level=0).head(1)
        self.best = best.assign(n=n.reindex(best.index).to_numpy())

    def _summary(self) -> str:
        finished = self.best[self.best.n == self.K] if self.best is not None else self.best
        if finished is None:
            return f"puzzles 0/{self.n_puzzles}"
        text = f"puzzles {len(finished)}/{self.n_puzzles}"
        if self.labelled and len(finished):
            text += f", best-Q {100 * np.mean(finished.correct.astype(bool)):.1f}%"
        return text

    def _postfix(self) -> None:
        self.bar.set_postfix_str(self._summary(), refresh=False)
