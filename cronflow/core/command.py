"""A command as written in a file (an argv list, or a string for the shell) as the argv to
start: one rule for jobs, flow steps and the ``command`` notifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# a string is a shell command line; the argv form never meets a shell
SHELL = ("/bin/sh", "-c")


def command_argv(command: Sequence[str] | str | Any) -> list[str]:
    """The argv that runs ``command``: a string through ``/bin/sh -c``, a list as it is.

    Raises ValueError for anything else: a blank string, an empty list, or items that are
    not strings (job files are checked at load with their own located messages; a
    plugin's table is checked here).
    """
    if isinstance(command, str):
        if not command.strip():
            raise ValueError("must be a non-empty argv list or a shell string")
        return [*SHELL, command]
    if isinstance(command, (list, tuple)) and command and all(isinstance(arg, str) for arg in command):
        return list(command)
    raise ValueError("must be a non-empty argv list or a shell string")
