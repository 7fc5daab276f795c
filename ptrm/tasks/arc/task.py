"""ARC-AGI as a ptrm task: 30x30 grids of 10 colours (PAD 0, EOS 1, colour c -> c + 2), each test input under
several augmentations whose candidates pool (evaluation.POOLING) for the official vote; answers are read back the
official way (crop, augmentation undone) into extra record columns."""
from ptrm.tasks import arc
from ptrm.tasks.arc import command, evaluation
from ptrm.tasks.arc.rows import arc_rows
from ptrm.tasks.base import Task


class Arc(Task):
    name = "arc"
    vocab_size, seq_len = arc.VOCAB_SIZE, arc.SEQ_LEN
    paper_cycles = dict(H_cycles=3, L_cycles=4, halt_max_steps=16)
    pooling = evaluation.POOLING
    baseline_metrics = ("arc",)
    options = (command.VERSIONS,)
    data_command = command.build

    def rows(self, folder, identifiers, puzzle_indices):
        return arc_rows(folder.parent / "identifiers.json", identifiers, puzzle_indices)

    def record_columns(self, preds, labels, rows):
        return evaluation.record_columns(preds, labels, rows)

    def eval_metrics(self, records, pset):
        # exact_accuracy becomes the crop-and-compare; per-step accuracies stay token-exact (never higher).
        return {} if pset.rows is None else evaluation.deterministic_metrics(records)

    def eval_lines(self, metrics):
        if "arc" not in metrics:
            return []
        a, lines = metrics["arc"], []
        if "unaugmented_pass@1" in a:
            lines.append(f"ARC task as given:   pass@1 {100 * a['unaugmented_pass@1']:.2f}%   "
                         f"pass@2 {100 * a['unaugmented_pass@2']:.2f}%")
        lines.append(f"ARC official vote ({a['versions']:g} versions, {a['tasks']} tasks):   "
                     f"pass@1 {100 * a['vote_pass@1']:.2f}%   pass@2 {100 * a['vote_pass@2']:.2f}%")
        return lines

    def search_tables(self, run):
        if "arc_hash" not in run.records.columns:  # a set without identifiers.json: no versions to pool
            return []
        return [("ARC (official score, % of tasks):", evaluation.official_table(run))]

    def check(self, model, pset):
        if model.cfg.puzzle_emb_ndim > 0 and pset.rows is not None:
            evaluation.check_embeddings(model.puzzle_emb.weights.detach(), pset)

    def align(self, pset, ckpt_path, puzzle_emb_ndim):
        return evaluation.align_to_checkpoint(pset, ckpt_path, puzzle_emb_ndim)
