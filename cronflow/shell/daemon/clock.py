"""Noticing a wall clock step or a suspend at once, so the loop never sleeps through one.

The loop sleeps on the monotonic clock toward due instants of the wall clock. When the
wall clock is set, or the machine sleeps (the monotonic clock stops, the wall clock does
not), that sleep no longer ends when the instant comes. :class:`ClockWatch` notices and
calls back, and the loop wakes and looks at its heap again; what the jump was and what
follows is decided in :mod:`cronflow.core.fire.clockjump` (pure).

How it notices:

* **timerfd** (Linux): a ``CLOCK_REALTIME`` timer armed at a far-future instant with
  ``TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET``, watched with ``loop.add_reader``. The
  kernel cancels it whenever the wall clock is set, and on every resume from suspend
  (``timekeeping_resume`` treats a resume as a set): a read then fails with
  ``ECANCELED``, the timer is armed again and the three clocks are compared. No polling:
  an idle daemon stays without wake-ups (SPEC section 10).
* **polling**, where there is no timerfd (not Linux, a seccomp filter): the clocks are
  compared every ``FALLBACK_POLL`` seconds by a small task.

Either way the comparison is also made whenever the loop wakes of its own accord (three
clock reads), and the loop's ``MAX_SLEEP`` stays as the last resort.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import time
from collections.abc import Callable

from cronflow.core.fire.clockjump import ClockJump, ClockReading, JumpKind, LoopAction, classify

FALLBACK_POLL = 1.0
# <linux/timerfd.h>, <time.h>
CLOCK_REALTIME = 0
TFD_TIMER_ABSTIME = 1 << 0
TFD_TIMER_CANCEL_ON_SET = 1 << 1
# the timer is never meant to expire: only its cancellation matters (the kernel caps the
# instant at the year 2262; a 32-bit time_t, at 2038; if it ever expired, it is simply
# armed again)
FAR_FUTURE = 2**40 if ctypes.sizeof(ctypes.c_long) >= 8 else 2**31 - 1

_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def read_clocks() -> ClockReading:
    """The wall, monotonic and boot-time clocks, read one right after the other (the
    boot-time clock is the monotonic one where the system has none)."""
    monotonic = time.clock_gettime(time.CLOCK_MONOTONIC)
    wall = time.time()
    boottime = time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else monotonic
    return ClockReading(wall=wall, monotonic=monotonic, boottime=boottime)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class WallClockSetTimer:
    """A timerfd that becomes readable when the wall clock is set (or the machine resumes)."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._libc = libc
        self.fd = fd

    @classmethod
    def create(cls) -> WallClockSetTimer | None:
        """An armed timer, or None where the system offers none."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            create, settime = libc.timerfd_create, libc.timerfd_settime
        except (OSError, AttributeError):
            return None
        create.argtypes = (ctypes.c_int, ctypes.c_int)
        settime.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p)
        fd = create(CLOCK_REALTIME, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        timer = cls(libc, fd)
        if not timer.arm():
            timer.close()
            return None
        return timer

    def arm(self) -> bool:
        """(Re)arm the timer; whether the kernel took it."""
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(FAR_FUTURE, 0))
        return self._libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
                                          ctypes.byref(spec), None) == 0

    def consume(self) -> bool:
        """Read what made the timer readable and arm it again; whether the wall clock
        was set."""
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno != errno.ECANCELED:
                raise
            self.arm()
            return True
        # it expired (FAR_FUTURE came): arm it again, nothing was set
        self.arm()
        return False

    def close(self) -> None:
        """Close the descriptor."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


class ClockWatch:
    """Calls ``on_jump`` (on the event loop) as soon as the wall clock was set or the
    machine resumed, after logging what happened (``wall clock stepped by +3600s``,
    ``resumed after 2h suspend``).

    ``read`` and ``timer`` are injectable for tests: ``timer=False`` forces polling;
    ``poll`` sets the polling interval (default: none with a timerfd, else
    ``FALLBACK_POLL``)."""

    def __init__(self, *, on_jump: Callable[[ClockJump], None], logger: logging.Logger,
                 read: Callable[[], ClockReading] = read_clocks, timer: bool = True,
                 poll: float | None = None) -> None:
        self.on_jump = on_jump
        self.logger = logger
        self._read = read
        self._want_timer = timer
        self._poll = poll
        self._timer: WallClockSetTimer | None = None
        self._task: asyncio.Task[None] | None = None
        self._previous: ClockReading | None = None

    @property
    def mode(self) -> str:
        """``timerfd`` or ``polling`` (once started)."""
        return "timerfd" if self._timer is not None else "polling"

    def start(self) -> None:
        """Take the first reading and start watching (on the running event loop)."""
        loop = asyncio.get_running_loop()
        self._previous = self._read()
        self._timer = WallClockSetTimer.create() if self._want_timer else None
        if self._timer is not None:
            loop.add_reader(self._timer.fd, self._on_set)
        interval = self._poll if self._poll is not None else (None if self._timer else FALLBACK_POLL)
        if interval is not None:
            self._task = asyncio.ensure_future(self._polling(interval))

    def check(self, *, kernel_set: bool = False) -> ClockJump:
        """Compare the clocks with their previous reading; on a jump, log it and call
        ``on_jump``. The jump (kind ``none`` when there was nothing)."""
        # a set the timerfd holds but has not reported yet is taken now: one line for it
        kernel_set = self._consume() or kernel_set
        current = self._read()
        previous, self._previous = self._previous or current, current
        jump = classify(previous, current, kernel_set=kernel_set)
        if jump.action is not LoopAction.NOTHING:
            level = logging.INFO if jump.kind is JumpKind.NONE else logging.WARNING
            self.logger.log(level, "%s", jump.describe())
            self.on_jump(jump)
        return jump

    def _on_set(self) -> None:
        if self._consume():
            self.check(kernel_set=True)

    def _consume(self) -> bool:
        """Whether the timerfd says the wall clock was set (False without one)."""
        if self._timer is None:
            return False
        try:
            return self._timer.consume()
        except OSError as exc:
            # never expected; watch by polling rather than spin on a broken descriptor
            self.logger.warning("clock watch: timerfd failed (%s); comparing clocks every %gs instead",
                                exc, FALLBACK_POLL)
            self._drop_timer()
            if self._task is None:
                self._task = asyncio.ensure_future(self._polling(FALLBACK_POLL))
            return True

    async def _polling(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.check()
            except Exception:
                self.logger.exception("clock watch: comparing the clocks failed")

    def _drop_timer(self) -> None:
        if self._timer is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._timer.fd)
            self._timer.close()
            self._timer = None

    def close(self) -> None:
        """Stop watching (on the event loop)."""
        self._drop_timer()
        if self._task is not None:
            self._task.cancel()
            self._task = None
