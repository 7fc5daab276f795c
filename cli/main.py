"""The `ptrm` command: a click group; each sub-command lives in its own module under cli/."""
import sys
import warnings

import click

from . import convert, data, evaluate, plot, reproduce, search, sweep, train
from ptrm.errors import PtrmError


def _one_line_warning(message, category, filename, lineno, line=None):
    # Warnings are for the user (e.g. an assumed architecture field), not for a debugger: no source line.
    return f"warning: {message}\n"


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
    warnings.formatwarning = _one_line_warning


for _module in (convert, data, evaluate, plot, reproduce, search, sweep, train):
    main.add_command(_module.command)
main.add_command(search.solve_command)


if __name__ == "__main__":  # python -m cli.main (from a checkout) runs the same command as `ptrm`
    main()
