"""`ptrm eval --ckpt PATH ...`: deterministic evaluation."""
import json
from pathlib import Path

import click
import numpy as np

from cli.common import arc_augs_option, checkpoint_options, data_options, open_checkpoint, open_puzzles
from ptrm.evaluate import evaluate
from ptrm.io import atomic_write_npz
from ptrm.hardware import dtype_name, resolve_dtype
from ptrm.search import DTYPES


@click.command("eval")
@checkpoint_options
@data_options
@arc_augs_option
@click.option("--steps", type=click.IntRange(min=1), help="Supervision steps D (default: the checkpoint's N_sup).")
@click.option("--dtype", type=click.Choice(DTYPES), default="auto", show_default=True,
              help="Activation dtype; auto = bf16 where the hardware computes it natively, else fp32.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--save-outputs", type=click.Path(dir_okay=False, path_type=Path),
              help="Write preds (D,N,S), q_halt (D,N) [and logits] to this .npz.")
@click.option("--save-logits", is_flag=True, help="Include logits (D,N,S,V) in --save-outputs.")
def command(ckpt, data, limit, arc_augs, steps, dtype, batch_size, save_outputs, save_logits, arch, task, device):
    """Deterministic accuracy, per-step accuracy and the Q head's AUROC."""
    ck = open_checkpoint(ckpt, arch, task, device)
    pset = open_puzzles(ck, data, limit, task, arc_augs)
    dt, why = resolve_dtype(dtype, ck.model.device)
    click.echo(f"dtype {dtype_name(dt)}: {why}", err=True)
    res = evaluate(ck.model, pset, steps=steps, dtype=dt, batch_size=batch_size,
                   keep_logits=save_logits, progress=True)
    m = res.metrics
    click.echo(f"{pset.source}: {m['n']} puzzles, D={m['steps']}, {m['dtype']}")
    click.echo(f"exact accuracy {100 * m['exact_accuracy']:.2f}%   cell accuracy {100 * m['cell_accuracy']:.2f}%   "
               f"Q AUROC {m['q_auroc']:.3f}")
    if "exact_by_type" in m:
        click.echo("per type, exact (cell) accuracy: " + "   ".join(
            f"{kind} {100 * a:.1f}% ({100 * m['cell_by_type'][kind]:.1f}%)" for kind, a in m["exact_by_type"].items()))
    if "valid_path_rate" in m:
        click.echo(f"valid S->G paths {100 * m['valid_path_rate']:.2f}%")
    if "arc" in m:
        a = m["arc"]
        if "unaugmented_pass@1" in a:
            click.echo(f"ARC task as given:   pass@1 {100 * a['unaugmented_pass@1']:.2f}%   "
                       f"pass@2 {100 * a['unaugmented_pass@2']:.2f}%")
        click.echo(f"ARC official vote ({a['versions']:g} versions, {a['tasks']} tasks):   "
                   f"pass@1 {100 * a['vote_pass@1']:.2f}%   pass@2 {100 * a['vote_pass@2']:.2f}%")
    click.echo("exact accuracy per step: " + " ".join(f"{100 * a:.1f}" for a in m["exact_accuracy_per_step"]))
    if save_outputs:
        arrays = {"preds": res.preds.astype(np.int32), "q_halt": res.q_halt.astype(np.float32)}
        if save_logits:
            arrays["logits"] = res.logits.astype(np.float32)
        atomic_write_npz(save_outputs, arrays)
        click.echo(f"outputs: {save_outputs}")
    click.echo(json.dumps({k: v for k, v in m.items() if k != "exact_accuracy_per_step"}))
