"""PPBench CSV files: one puzzle per row, `source,kind,height,width,question,answer`."""
import csv
import io
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.puzzles import IGNORE_LABEL, PuzzleSet, csv_header, read_csv_columns
from ptrm.tasks.ppbench import tokens as ppbench_tokens

PPBENCH_HEADER = ["source", "kind", "height", "width", "question", "answer"]


def write_ppbench_csv(path, boards, sources) -> None:
    """PPBench boards as a CSV, one puzzle per row: `source,kind,height,width,question,answer`, question and
    answer the 100 token ids of the 10x10 frame (ptrm.tasks.ppbench.tokens), space-separated, with 0 (PAD)
    outside the board in both."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PPBENCH_HEADER)
    for board, source in zip(boards, sources):
        inputs, labels = ppbench_tokens.encode(board)
        labels = np.where(labels == IGNORE_LABEL, ppbench_tokens.PAD, labels)
        writer.writerow([source, board.kind, *board.shape, " ".join(map(str, inputs)), " ".join(map(str, labels))])
    atomic_write_text(path, out.getvalue())


def read_ppbench_csv(path) -> PuzzleSet:
    """A CSV written by `write_ppbench_csv`; the puzzle identifier is the kind (one embedding per kind)."""
    path = Path(path)
    header = csv_header(path)
    if header[:len(PPBENCH_HEADER)] != PPBENCH_HEADER:
        raise PtrmError(f"{path}:1: expected the PPBench header {','.join(PPBENCH_HEADER)}, got {header}")
    questions, answers, lines = read_csv_columns(path)
    vocab, seq_len = ppbench_tokens.VOCAB_SIZE, ppbench_tokens.SEQ_LEN
    grids = []
    for column, strings in (("question", questions), ("answer", answers)):
        rows = []
        for s, line in zip(strings, lines):
            try:
                row = np.array(s.split(), dtype=np.int64)
            except ValueError:
                raise PtrmError(f"{path}:{line}: {column} is not space-separated token ids") from None
            if len(row) != seq_len or row.min() < 0 or row.max() >= vocab:
                raise PtrmError(f"{path}:{line}: {column} must be {seq_len} token ids in 0..{vocab - 1}")
            rows.append(row)
        grids.append(np.stack(rows).astype(np.int32))
    inputs, labels = grids
    first = inputs[:, 0]
    if not ppbench_tokens.IS_INPUT[first].all():
        i = int(np.argmin(ppbench_tokens.IS_INPUT[first]))
        raise PtrmError(f"{path}:{lines[i]}: question does not start with a PPBench cell token")
    labels[inputs == ppbench_tokens.PAD] = IGNORE_LABEL
    kinds = ppbench_tokens.TOKEN_KIND[first].astype(np.int32)
    return PuzzleSet(inputs, labels, kinds, "ppbench", vocab, seq_len, str(path))
