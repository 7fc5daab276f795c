"""`ptrm eval --ckpt PATH ...`: deterministic evaluation."""
import json
from pathlib import Path

import click
import numpy as np

from .common import checkpoint_options, data_options, open_checkpoint, open_puzzles, task_options
from ptrm import tasks
from ptrm.evaluate import evaluate
from ptrm.io import atomic_write_npz
from ptrm.runfolder import probe_file
from ptrm.hardware import dtype_name, resolve_dtype
from ptrm.search import DTYPES


@click.command("eval")
@checkpoint_options
@data_options
@task_options
@click.option("--steps", type=click.IntRange(min=1), help="Supervision steps D (default: the checkpoint's N_sup).")
@click.option("--dtype", type=click.Choice(DTYPES), default="auto", show_default=True,
              help="Activation dtype; auto = bf16 where the hardware computes it natively, else fp32.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--save-outputs", type=click.Path(dir_okay=False, path_type=Path),
              help="Write preds (D,N,S), q_halt (D,N) [and logits] to this .npz.")
@click.option("--save-logits", is_flag=True, help="Include logits (D,N,S,V) in --save-outputs.")
def command(ckpt, data, limit, steps, dtype, batch_size, save_outputs, save_logits, arch, task, device, **task_values):
    """Deterministic accuracy, per-step accuracy and the Q head's AUROC."""
    if save_outputs:
        probe_file(save_outputs)  # before the work, not after it
    ck = open_checkpoint(ckpt, arch, task, device)
    pset = open_puzzles(ck, data, limit, task, **task_values)
    dt, why = resolve_dtype(dtype, ck.model.device)
    click.echo(f"dtype {dtype_name(dt)}: {why}", err=True)
    res = evaluate(ck.model, pset, steps=steps, dtype=dt, batch_size=batch_size,
                   keep_logits=save_logits, progress=True)
    m = res.metrics
    click.echo(f"{pset.source}: {m['n']} puzzles, D={m['steps']}, {m['dtype']}")
    click.echo(f"exact accuracy {100 * m['exact_accuracy']:.2f}%   cell accuracy {100 * m['cell_accuracy']:.2f}%   "
               f"Q AUROC {m['q_auroc']:.3f}")
    for line in tasks.get(pset.task).eval_lines(m):  # the task's own figures
        click.echo(line)
    click.echo("exact accuracy per step: " + " ".join(f"{100 * a:.1f}" for a in m["exact_accuracy_per_step"]))
    if save_outputs:
        arrays = {"preds": res.preds.astype(np.int32), "q_halt": res.q_halt.astype(np.float32)}
        if save_logits:
            arrays["logits"] = res.logits.astype(np.float32)
        atomic_write_npz(save_outputs, arrays)
        click.echo(f"outputs: {save_outputs}")
    click.echo(json.dumps({k: v for k, v in m.items() if k != "exact_accuracy_per_step"}))
