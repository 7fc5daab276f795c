"""`ptrm reproduce NAME`: one table or figure from its spec (experiments/reproduce/NAME.yaml), resumable."""
import click

from ptrm import reproduce
from ptrm.errors import PtrmError
from ptrm.io import atomic_write_text


@click.command("reproduce")
@click.argument("name", required=False)
@click.option("--list", "show", is_flag=True, help="List the specs with what each makes and its cost.")
@click.option("--index", is_flag=True, help=f"Write {reproduce.INDEX} from the specs and the manifests.")
def command(name, show, index):
    """Make one table or figure of the README and docs/ again; steps already done are skipped.

    \b
    ptrm reproduce --list            what can be made, and what it costs
    ptrm reproduce first-command     run what is missing of one spec (from the repository root)
    ptrm reproduce --index           write results/README.md, the map of results/
    """
    specs = reproduce.load_specs()
    if show:
        for spec in specs.values():
            left = len(reproduce.todo(spec))
            click.echo(f"{spec.name:18} {'done' if not left else f'{left} steps to run':14} {spec.cost}")
        return
    if index:
        atomic_write_text(reproduce.INDEX, reproduce.index(specs))
        click.echo(f"wrote {reproduce.INDEX}")
        return
    if name is None:
        raise PtrmError("name a spec (ptrm reproduce --list shows them)")
    if name not in specs:
        raise PtrmError(f"no spec named {name!r} in {reproduce.SPECS}; choose one of {', '.join(specs)}")
    reproduce.run(specs[name], log=lambda line: click.echo(line, err=True))
