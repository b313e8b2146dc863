"""Set a job's ``nice`` and ``limits`` in its own process, then exec its program.

Run as ``python -I prexec.py [--nice N] [--limit RLIMIT_X=V]... -- ARGV...`` by
:mod:`cronflow.shell.process.spawn`, only for a job that sets either key. ``posix_spawn``
cannot set a priority or resource limits in the child, and a ``preexec_fn`` is unsafe in
the threaded daemon; this small program does it between the spawn and the exec, so the
process (its pid, its process group, its inherited lock) is the job's own throughout.
It imports nothing of cronflow, to start quickly. A limit it may not set (above the hard
limit for a non-root user, say) fails the run with a one-line reason, exit status 126.
"""

import os
import resource
import sys


def _fail(message: str, status: int = 126) -> None:
    sys.stderr.write(f"cronflow: {message}\n")
    sys.exit(status)


def main(args: list[str]) -> None:
    """Apply the options in ``args`` to this process and exec the argv after ``--``."""
    split = args.index("--")
    options, argv = args[:split], args[split + 1:]
    for flag, value in zip(options[::2], options[1::2]):
        if flag == "--nice":
            try:
                os.setpriority(os.PRIO_PROCESS, 0, int(value))
            except OSError as exc:
                _fail(f"cannot set nice {value}: {exc.strerror}")
        elif flag == "--limit":
            name, _, number = value.partition("=")
            try:
                resource.setrlimit(getattr(resource, name), (int(number), int(number)))
            except (OSError, ValueError) as exc:
                _fail(f"cannot set limit {name} to {number}: {exc}")
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        _fail(f"cannot run {argv[0]!r}: {exc.strerror}", 127)


if __name__ == "__main__":
    main(sys.argv[1:])
