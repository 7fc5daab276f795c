"""`ptrm convert SRC DST`: between native, official TRM (`step_N` + all_config.yaml) and safetensors files."""
import click

from ptrm import tasks
from ptrm.checkpoint import WRITERS, convert, parse_arch_overrides
from ptrm.runfolder import probe_file

ARCH_HELP = ("Architecture field (TRMConfig / official arch name), repeatable: --arch num_heads=8 "
             "--arch L_cycles=4. Needed when the file and all_config.yaml cannot tell.")
TASK_HELP = f"Task ({', '.join(tasks.REGISTRY)}) when vocab and seq_len do not tell."


@click.command("convert")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--to", type=click.Choice(sorted(WRITERS)),
              help="Output format (default: *.safetensors, step_<N> = official, *.pt = native).")
@click.option("--arch", "arch", multiple=True, metavar="KEY=VALUE", help=ARCH_HELP)
@click.option("--task", help=TASK_HELP)
@click.option("--overwrite", is_flag=True, help="Replace DST (and a differing all_config.yaml beside it).")
def command(src, dst, to, arch, task, overwrite):
    """Convert a checkpoint; SRC may be native, official or safetensors (detected from its content)."""
    probe_file(dst)
    ck, written = convert(src, dst, to, parse_arch_overrides(arch), task, overwrite)
    cfg = ck.cfg
    kind = "mlp_t" if cfg.mlp_t else f"attention, {cfg.num_heads} heads"
    click.echo(f"{src} ({ck.meta.get('format', 'native')}, task {ck.task}, {ck.model.num_params():,} params, "
               f"hidden {cfg.hidden_size}, {kind}, T={cfg.H_cycles} n={cfg.L_cycles} N_sup={cfg.halt_max_steps})")
    for path in written:
        click.echo(f"wrote {path}")
