"""PPBench sets: the golden puzzles as CSV (`write_ppbench_golden`), seeded puzzles drawn in resumable shards
(`generated_ppbench`), and the held-out CSVs and the paper's augmented training set (`build_ppbench`), written
through ptrm.puzzles so a built set reads like any other."""
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.puzzles import PuzzleSet, write_official
from ptrm.tasks.ppbench import augment as ppbench_augment
from ptrm.tasks.ppbench import generate as ppbench_generate
from ptrm.tasks.ppbench import golden as ppbench_golden
from ptrm.tasks.ppbench import records as ppbench_records
from ptrm.tasks.ppbench import tokens as ppbench_tokens
from ptrm.tasks.ppbench.csv_files import write_ppbench_csv

def write_ppbench_golden(out) -> dict:
    """`<out>/golden/<kind>.csv` for the PPBench golden puzzles of our six kinds that fit the frame (each
    row's source is its puzz.link URL); returns {kind: {"kept": n, "skipped": {reason: n}}}."""
    puzzles = ppbench_golden.load()
    summary = {}
    for kind in ppbench_tokens.KINDS:
        mine = [p for p in puzzles if p.kind == kind]
        kept = [p for p in mine if p.board is not None]
        skipped = {}
        for p in mine:
            if p.board is None:
                reason = "larger than the frame" if "larger than" in p.skipped else p.skipped
                skipped[reason] = skipped.get(reason, 0) + 1
        if kept:
            write_ppbench_csv(Path(out) / "golden" / f"{kind}.csv", [p.board for p in kept], [p.url for p in kept])
        summary[kind] = {"kept": len(kept), "skipped": skipped}
    return summary


def ppbench_set(boards, source: str) -> PuzzleSet:
    """PPBench boards (of any kinds) as one PuzzleSet in the shared vocabulary; the identifier is the kind."""
    if not boards:
        raise PtrmError(f"{source}: no PPBench boards")
    inputs, labels = (np.stack(a).astype(np.int32) for a in zip(*map(ppbench_tokens.encode, boards)))
    kinds = np.array([ppbench_tokens.KIND_ID[b.kind] for b in boards], np.int32)
    return PuzzleSet(inputs, labels, kinds, "ppbench", ppbench_tokens.VOCAB_SIZE, ppbench_tokens.SEQ_LEN, source)


PPBENCH_SHARD = 100  # generated puzzles per file: a long generation resumes from its last whole shard


def generated_ppbench(folder, kind: str, n: int, seed: int, keep: float = 0.0, workers: int = 1,
                      progress=None) -> tuple[list, np.ndarray]:
    """Puzzles 0..n-1 of the seeded stream (kind, seed, keep) of ptrm.tasks.ppbench.generate and their ratings
    (search branches of the uniqueness proof: the difficulty), kept under `folder/<kind>/` in shards of
    PPBENCH_SHARD puzzles (JSONL, each written atomically once complete). Shards already there are read, not
    redrawn, so a generation that stops (hours for nurikabe) resumes where it stopped, and asking for more
    puzzles later draws only the new ones. `progress(k)`: k more puzzles done."""
    records = []
    for start in range(0, n, PPBENCH_SHARD):
        count = min(PPBENCH_SHARD, n - start)
        path = Path(folder) / kind / f"seed{seed}-keep{keep:g}-{start:06d}.jsonl"
        shard = ppbench_records.read_records(path) if path.is_file() else []
        if len(shard) < count:  # a shorter shard from an earlier, smaller request: draw it whole again
            ppbench_records.write_set(path, ppbench_generate.generate(kind, count, seed, keep, start, workers))
            shard = ppbench_records.read_records(path)
        records += [(ppbench_records.from_record(r, f"{path}:{i + 1}"), r.get("rating", -1))
                    for i, r in enumerate(shard[:count])]
        if progress:
            progress(count)
    return [board for board, _ in records], np.array([rating for _, rating in records])


def build_ppbench(sets: dict, out, n_heldout: int, n_samples: int = 9, seed: int = 0) -> dict:
    """A PPBench training set from generated puzzles, `sets` = {kind: [Board, ...]} (puzzles 0, 1, ... of
    each kind's seeded stream, see ptrm.tasks.ppbench.generate).

    Per kind, puzzles 0..n_heldout-1 are held out: `out/heldout/<kind>.csv` (for `ptrm search --data`) and,
    all kinds together, `out/test` (official layout, what `ptrm train` evaluates on), interleaved (puzzle 0 of
    every kind, then puzzle 1, ...) so that the first n test puzzles, which training evaluates every few
    steps, hold every kind. Holding out the first ones keeps the held-out set fixed when more puzzles are
    generated later. Every other puzzle becomes the paper's training examples in `out/train`: the puzzle and
    n_samples trajectory samples (a random part of its solution shown as given), each under a random dihedral
    transform. Returns counts per kind.
    """
    rng = np.random.default_rng(seed)
    out = Path(out)
    train, held_out, counts = [], [], {}
    for kind, boards in sets.items():
        if len(boards) <= n_heldout:
            raise PtrmError(f"{kind}: {len(boards)} puzzles leave none for training after {n_heldout} held out")
        held = boards[:n_heldout]
        write_ppbench_csv(out / "heldout" / f"{kind}.csv", held, [f"generated {kind} #{i}" for i in range(n_heldout)])
        held_out.append(held)
        examples = [ex for b in boards[n_heldout:] for ex in ppbench_augment.training_examples(b, n_samples, rng)]
        train += examples
        counts[kind] = {"heldout": n_heldout, "train_puzzles": len(boards) - n_heldout, "train_examples": len(examples)}
    train_set = ppbench_set(train, f"{out} (generated, augmented)")
    train_set = train_set.subset(rng.permutation(len(train_set)))  # kinds mixed in every stretch of the file
    write_official(train_set, out, "train", overwrite=True)
    test = [board for same_index in zip(*held_out) for board in same_index]
    write_official(ppbench_set(test, f"{out} (held out)"), out, "test", overwrite=True)
    return counts
