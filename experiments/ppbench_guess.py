"""The per-clue guess: how far a PPBench model gets by reading one cell at a time (the floor of issue 16's table).

    python experiments/ppbench_guess.py [--data results/data/ppbench] [--fit 100:200] [--score 0:50]

Per type, each input token's most frequent answer token over the held-out puzzles --fit (never trained on),
scored on the held-out puzzles --score (by default the 50 per type the trainer's evaluation sees) with the
trainer's own measure (ptrm.evaluate.exact_and_cell): cell accuracy, and whole boards. A model whose cell
accuracy is near this row has learned the clues' local meaning and little of the rules.
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ptrm.puzzles import IGNORE_LABEL
from ptrm.data import load_puzzles
from ptrm.puzzles import exact_and_cell
from ptrm.report import markdown
from ptrm.tasks.ppbench.board import KINDS


def per_clue_guess(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """guess[token]: the answer most often under input `token` (ties: the lowest id); a token never seen
    gets the most frequent answer of all."""
    keep = labels != IGNORE_LABEL
    vocab = int(max(inputs.max(), labels.max())) + 1
    counts = np.zeros((vocab, vocab), np.int64)
    np.add.at(counts, (inputs[keep], labels[keep]), 1)
    guess = counts.argmax(1)
    guess[counts.sum(1) == 0] = counts.sum(0).argmax()
    return guess


def span(text: str) -> slice:
    start, stop = (int(x) for x in text.split(":"))
    return slice(start, stop)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("results/data/ppbench"))
    p.add_argument("--types", default=",".join(KINDS))
    p.add_argument("--fit", type=span, default=span("100:200"))
    p.add_argument("--score", type=span, default=span("0:50"))
    args = p.parse_args()
    rows = []
    for kind in args.types.split(","):
        pset = load_puzzles(args.data / "heldout" / f"{kind}.csv")
        guess = per_clue_guess(pset.inputs[args.fit], pset.labels[args.fit])
        exact, cell = exact_and_cell(guess[pset.inputs[args.score]], pset.labels[args.score])
        rows.append({"type": kind, "n": len(exact), "cell %": 100 * cell.mean(), "exact %": 100 * exact.mean()})
    table = pd.DataFrame(rows)
    table.loc[len(table)] = {"type": "mean", "n": table.n.sum(), "cell %": table["cell %"].mean(),
                             "exact %": table["exact %"].mean()}
    print(markdown(table))


if __name__ == "__main__":
    main()
