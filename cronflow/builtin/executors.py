"""The built-in executor ``local``: a job's command runs as a child process of cronflow.

It is registered through the public ``register_executors`` hook like any executor
plugin, and is what a job without an ``[executor]`` table uses. It starts the command
as it is (``command`` returns the argv unchanged), so every guarantee of a local run
(lock inheritance, reaping, timeouts, adoption after a daemon restart) is the process
layer's own. Its table takes no keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cronflow.builtin.config import check_keys
from cronflow.hookspecs import Register, hookimpl
from cronflow.model import Job, Run


class LocalExecutor:
    """Runs the command here: the process cronflow starts is the command itself."""

    def command(self, job: Job, run: Run, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """The argv to start: the job's own."""
        return list(argv)

    def failure_reason(self, exit_code: int) -> str | None:
        """A local command's failure is its own: no reason of the executor's."""
        return None


# stateless, so one object serves every job
_LOCAL = LocalExecutor()


def validate(config: Mapping[str, Any]) -> None:
    """``[executor] kind = "local"`` takes no other keys."""
    check_keys(config, ())


def local(config: Mapping[str, Any]) -> LocalExecutor:
    """The factory of ``kind = "local"``."""
    validate(config)
    return _LOCAL


local.validate = validate  # type: ignore[attr-defined]


@hookimpl
def register_executors(register: Register) -> None:
    """The built-in executor kind ``local``."""
    register("local", local)
