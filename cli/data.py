"""`ptrm data <task>`: build datasets; each registered task with a data command adds its own sub-command."""
import copy
import functools

import click

from ptrm import tasks
from ptrm.runfolder import output_folder


@click.group("data")
def command():
    """Build datasets."""


def probed(build: click.Command) -> click.Command:
    """The task's command with its --out created and probed for writing before it generates anything, and
    removed again if the command fails leaving it empty."""
    callback = build.callback

    @functools.wraps(callback)
    def run(out, **kwargs):
        with output_folder(out):
            return callback(out=out, **kwargs)
    wrapped = copy.copy(build)
    wrapped.callback = run
    return wrapped


for _task in tasks.REGISTRY.values():
    if _task.data_command is not None:
        command.add_command(probed(_task.data_command), _task.name)
