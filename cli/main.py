"""The `ptrm` command: a click group; each sub-command lives in its own module under cli/."""
import sys

import click

from ptrm.errors import PtrmError


class Group(click.Group):
    """Turns PtrmError (bad user input) into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PtrmError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=Group)
@click.version_option(package_name="ptrm")
def main():
    """ptrm: probabilistic test-time search over Tiny Recursive Models."""


def _register():
    from cli import data, evaluate, search, train

    for module in (data, evaluate, search, train):
        main.add_command(module.command)


_register()
