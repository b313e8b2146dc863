"""The ``nice`` and ``limits`` keys of a job (SPEC 12): their names, and what each becomes.

Pure: a job file's ``limits = { memory = "2G", nofile = 4096, cpu_time = "1h" }`` is read
into whole numbers here (bytes, a count, seconds); the shell applies them in the job's
process before it runs its program (:mod:`cronflow.shell.process.prexec`). Each limit sets
both the soft and the hard ``setrlimit`` value, as systemd's ``LimitNOFILE=`` and friends
do: a job cannot raise a limit it was given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cronflow.durations import parse_duration, parse_size
from cronflow.errors import CronflowError

# name in a job file -> (the setrlimit resource, how its value is written)
LIMITS: dict[str, tuple[str, str]] = {
    "memory": ("RLIMIT_AS", "size"),        # address space: "2G", "512M" or bytes
    "nofile": ("RLIMIT_NOFILE", "count"),   # open files
    "nproc": ("RLIMIT_NPROC", "count"),     # processes of the job's user
    "cpu_time": ("RLIMIT_CPU", "duration"),  # CPU seconds: "1h", "90s" (SIGXCPU, then SIGKILL)
}

NICE_RANGE = (-20, 19)

_EXAMPLES = {"size": '"2G" or a number of bytes', "count": "a whole number such as 4096",
             "duration": '"1h", "90s" or a number of seconds'}


def limit_value(name: str, value: object) -> int:
    """The whole number limit ``name`` is set to for ``value`` as written in a job file;
    CronflowError naming the accepted form when it is not one."""
    kind = LIMITS[name][1]
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CronflowError(f"limits.{name} must be {_EXAMPLES[kind]}, not {value!r}")
        return value
    try:
        number = parse_size(value) if kind == "size" else math.ceil(parse_duration(value))
    except CronflowError as exc:
        raise CronflowError(f"limits.{name}: {exc}") from None
    if number < 1:
        raise CronflowError(f"limits.{name} must be more than zero, as {_EXAMPLES[kind]}")
    return number


def rlimits(limits: Mapping[str, int]) -> list[tuple[str, int]]:
    """``(resource name, value)`` pairs of a job's parsed ``limits``, in a stable order."""
    return [(LIMITS[name][0], value) for name, value in sorted(limits.items())]
