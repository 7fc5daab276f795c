"""`ptrm data <task>`: build datasets; each registered task with a data command adds its own sub-command."""
import click

from ptrm import tasks


@click.group("data")
def command():
    """Build datasets."""


for _task in tasks.REGISTRY.values():
    if _task.data_command is not None:
        command.add_command(_task.data_command, _task.name)
