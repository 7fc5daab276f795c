"""One exception type for bad user input: the CLI turns it into a one-line error and exit code 2."""


class PtrmError(Exception):
    """Bad input from the user (file, value, option). The message names the culprit."""
