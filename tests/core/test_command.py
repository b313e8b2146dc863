"""A command as argv (core/command.py), shared by job runs and the command notifier."""

from __future__ import annotations

import pytest

from cronflow.core.command import command_argv


@pytest.mark.parametrize(("command", "argv"), [
    ("echo $HOME | wc -c", ["/bin/sh", "-c", "echo $HOME | wc -c"]),
    (("restic", "backup", "/home"), ["restic", "backup", "/home"]),
    (["notify-send", "a b"], ["notify-send", "a b"]),
])
def test_a_string_goes_through_the_shell_and_a_list_does_not(command, argv):
    assert command_argv(command) == argv


@pytest.mark.parametrize("command", ["", "   ", [], (), ["ok", 3], None, 42])
def test_anything_but_a_command_is_a_value_error(command):
    with pytest.raises(ValueError, match="non-empty argv list or a shell string"):
        command_argv(command)
