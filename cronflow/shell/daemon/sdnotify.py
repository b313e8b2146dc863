"""The systemd notify protocol (``Type=notify``), without a dependency.

Datagrams go to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
Without the variable every call is a no-op, so the daemon can call these freely.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

# variables of the daemon's own supervision that must never reach a job
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends state lines to systemd; each method sends one datagram."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        self.watchdog_interval = _watchdog_interval(env)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False when not sent (no socket, or
        its receiver's queue is full: this never blocks)."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                # Non-blocking: these calls run on the daemon's event loop thread, and a
                # datagram send blocks while the receiver's queue is full (only
                # net.unix.max_dgram_qlen datagrams, 10 by default, when the receiver is
                # not systemd or is not reading); that froze the whole daemon, SIGTERM
                # included. A notification that does not fit is dropped instead.
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError:  # BlockingIOError included: the receiver's queue is full
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (with a STATUS line when given), once what the daemon logged before
        it is out (the log holds a turn's lines until the turn ends, and the start or
        reload is one long turn): a reader of the log after READY=1 finds the load's lines."""
        for handler in logging.getLogger("cronflow").handlers:
            handler.flush()
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC in the same datagram (systemd >= 253)."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        """STOPPING=1."""
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        """WATCHDOG=1 (keep-alive)."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS=<text>, shown by ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    # half WATCHDOG_USEC, and only when the watchdog is meant for this process
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1_000_000


def job_environ(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the daemon's systemd supervision variables."""
    return {key: value for key, value in base.items() if key not in PRIVATE_ENV}
