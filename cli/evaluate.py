"""`ptrm eval --ckpt PATH ...`: deterministic evaluation."""
import json
from pathlib import Path

import click
import numpy as np

from .common import checkpoint_options, data_options, open_checkpoint, open_puzzles, search_option, task_options
from ptrm import tasks
from ptrm.evaluate import StepOutputs, evaluate
from ptrm.io import atomic_write_npz
from ptrm.plan import ExecutionPlan
from ptrm.runfolder import probe_file
from ptrm.search import SearchConfig


@click.command("eval")
@checkpoint_options
@data_options
@task_options
@search_option("D")
@search_option("dtype")
@search_option("chunk_size")
@click.option("--save-outputs", type=click.Path(dir_okay=False, path_type=Path),
              help="Write preds (D,N,S), q_halt (D,N) [and logits] to this .npz.")
@click.option("--save-logits", is_flag=True, help="Include logits (D,N,S,V) in --save-outputs.")
def command(ckpt, data, limit, D, dtype, chunk_size, save_outputs, save_logits, arch, task, device, **task_values):
    """Deterministic accuracy, per-step accuracy and the Q head's AUROC: the search engine with sigma 0, K=1."""
    SearchConfig(D=D, dtype=dtype, chunk_size=chunk_size).validate()  # bad values before any work
    if save_outputs:
        probe_file(save_outputs)  # before the work, not after it
    ck = open_checkpoint(ckpt, arch, task, device)
    pset = open_puzzles(ck, data, limit, task, **task_values)
    plan = ExecutionPlan.resolve(ck.model.device, dtype, chunk_size)
    click.echo(f"dtype {plan.dtype_name}: {plan.dtype_reason}", err=True)
    D = D or ck.cfg.halt_max_steps
    outputs = StepOutputs(len(pset), D, logits=save_logits) if save_outputs else None
    m = evaluate(ck.model, pset, plan, steps=D, outputs=outputs, progress=True).metrics
    click.echo(f"{pset.source}: {m['n']} puzzles, D={m['steps']}, {m['dtype']}")
    click.echo(f"exact accuracy {100 * m['exact_accuracy']:.2f}%   cell accuracy {100 * m['cell_accuracy']:.2f}%   "
               f"Q AUROC {m['q_auroc']:.3f}")
    for line in tasks.get(pset.task).eval_lines(m):  # the task's own figures
        click.echo(line)
    click.echo("exact accuracy per step: " + " ".join(f"{100 * a:.1f}" for a in m["exact_accuracy_per_step"]))
    if save_outputs:
        arrays = {"preds": outputs.preds.astype(np.int32), "q_halt": outputs.q_halt}
        if save_logits:
            arrays["logits"] = outputs.logits
        atomic_write_npz(save_outputs, arrays)
        click.echo(f"outputs: {save_outputs}")
    click.echo(json.dumps({k: v for k, v in m.items() if k != "exact_accuracy_per_step"}))
