"""`ptrm train CONFIG.yaml [key=value ...]`"""
import json

import click

from ptrm.runfolder import lock
from ptrm.train import Trainer, load_config


@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--resume", is_flag=True, help="Continue from OUT/resume.pt after an interruption.")
def command(config, overrides, resume):
    """Train a TRM with deep supervision (overrides: `lr=3e-4 model.hidden_size=256`)."""
    cfg = load_config(config, overrides)
    with lock(cfg.out):  # one writer; probed before the data is read or a step is trained
        metrics = Trainer(cfg, resume=resume).run()
    click.echo(json.dumps({k: v for k, v in metrics.items() if k != "exact_accuracy_per_step"}, indent=1))
    click.echo(f"checkpoint: {cfg.out}/model.pt")
