"""The floor: the least a scheduler must do to start N processes every second.

A bare asyncio loop that waits for each whole second (asyncio timer, then a short
precise ``time.sleep`` for the last 2 ms, since asyncio timers wake ~1.5 ms late),
starts every process with ``os.posix_spawn`` and reaps children from one SIGCHLD
handler. Usage: ``floor_peer.py STAMP_ARGV_JSON STAMP_FILE N [LOCK_DIR]``; SIGTERM stops it.

With ``LOCK_DIR`` it is the floor *with cronflow's duties* (the ``floor+duties`` row):
each process is also started the way cronflow must start a job, and nothing else is done:
its job's ``flock`` taken first and held until it ends (and inherited by it), its output
on a pipe the loop drains, stdin on ``/dev/null``, and a session of its own. The
difference between the two floors is what those duties cost the kernel per spawn; the
difference between this one and cronflow is cronflow's own overhead.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
import signal
import sys
import time
from datetime import UTC, datetime

# end the asyncio wait this long before the due instant; sleep the rest precisely
PRECISE_TAIL = 0.002

# pid -> (lock fd, pipe read fd) of a process started with duties
DUTIES: dict[int, tuple[int, int]] = {}


def reap() -> None:
    """Collect every exited child (one SIGCHLD may stand for several)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        held = DUTIES.pop(pid, None)
        if held is not None:
            lock, out = held
            drain(out)
            os.close(out)
            os.close(lock)


def drain(fd: int) -> None:
    """Read what is left on a (non-blocking) output pipe."""
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass


def spawn_with_duties(argv: list[str], env: dict[str, str], lock_path: str, devnull: int) -> None:
    """Start ``argv`` as cronflow starts a job (see the module docstring)."""
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    out, into = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, into, 1),
               (os.POSIX_SPAWN_DUP2, into, 2)]
    os.set_inheritable(lock, True)
    try:
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    finally:
        os.set_inheritable(lock, False)
        os.close(into)
    os.set_blocking(out, False)
    DUTIES[pid] = (lock, out)


async def serve(argvs: list[list[str]], lock_dir: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGCHLD, reap)
    base_env = dict(os.environ)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    due = math.floor(time.time()) + 1
    while not stop.is_set():
        wait = due - time.time() - PRECISE_TAIL
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
                break
            except TimeoutError:
                pass
        rest = due - time.time()
        if rest > 0:
            time.sleep(rest)
        nominal = datetime.fromtimestamp(due, UTC).isoformat().replace("+00:00", "Z")
        env = base_env | {"CRONFLOW_NOMINAL_TIME": nominal}
        if lock_dir is None:
            for argv in argvs:
                os.posix_spawn(argv[0], argv, env)
        else:
            for argv in argvs:
                spawn_with_duties(argv, env, f"{lock_dir}/{argv[-1]}.lock", devnull)
        due += 1


def main() -> None:
    prefix, stamp_file, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    lock_dir = sys.argv[4] if len(sys.argv) > 4 else None
    argvs = [[*prefix, stamp_file, f"job{i:04d}"] for i in range(n)]
    asyncio.run(serve(argvs, lock_dir))


if __name__ == "__main__":
    main()
