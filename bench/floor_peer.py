"""The floor: the least a scheduler must do to start N processes every second.

A bare asyncio loop that waits for each whole second (asyncio timer, then a short
precise ``time.sleep`` for the last 2 ms, since asyncio timers wake ~1.5 ms late),
starts every process with ``os.posix_spawn`` and reaps children from one SIGCHLD
handler. Usage: ``floor_peer.py STAMP_ARGV_JSON STAMP_FILE N``; SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from datetime import UTC, datetime

# end the asyncio wait this long before the due instant; sleep the rest precisely
PRECISE_TAIL = 0.002


def reap() -> None:
    """Collect every exited child (one SIGCHLD may stand for several)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


async def serve(argvs: list[list[str]]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGCHLD, reap)
    base_env = dict(os.environ)
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
        for argv in argvs:
            os.posix_spawn(argv[0], argv, env)
        due += 1


def main() -> None:
    prefix, stamp_file, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    argvs = [[*prefix, stamp_file, f"job{i:04d}"] for i in range(n)]
    asyncio.run(serve(argvs))


if __name__ == "__main__":
    main()
