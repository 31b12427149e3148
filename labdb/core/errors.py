"""Error hierarchy: InputError is anything the user can fix; the CLI prints it on one line, exit 2."""


class LabdbError(Exception):
    """Base of every error labdb raises on purpose."""


class InputError(LabdbError):
    """A problem in what the user gave us (a file, a row, a well, an option), with the fix in the message."""
