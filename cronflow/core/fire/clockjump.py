"""Clock steps and suspends (pure): what happened between two clock readings, and what
the daemon's loop does about it.

The shell reads three clocks together (:class:`ClockReading`): the wall clock
(``CLOCK_REALTIME``, what schedules are in), the monotonic clock (what asyncio sleeps on;
it stops while the machine is suspended) and the boot-time clock (monotonic plus the time
spent suspended). Between two readings:

* ``boottime - monotonic`` grows only by the time spent suspended;
* ``wall - boottime`` changes only when the wall clock is set (``settimeofday``, an NTP
  step, a leap second): NTP's slewing speeds up or slows down both alike.

So each is told apart exactly, however long ago the previous reading was. A jump is
noticed at once through the kernel (the shell's timerfd), or at the next reading; either
way :func:`classify` gives the same answer.

What the loop does is the same for every jump: wake and look at the heap again, with
nothing recomputed. After a forward step or a suspend the due instants it holds have
passed, so the fires in between are due at once and follow the job's ``catchup`` rules
(:mod:`cronflow.core.fire.catchup`), each recorded. After a backward step the heap keeps
each job's next nominal fire after its last handled one, so no (job, nominal time) runs
twice: the job waits for the wall clock to come back to it (:func:`schedule_after`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cronflow.durations import format_duration

# a change smaller than this is not a jump: a leap second (-1 s) is not worth a line,
# and two clocks read one after the other differ by microseconds
TOLERANCE = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockReading:
    """Three clocks read together, in seconds."""

    wall: float
    monotonic: float
    boottime: float


class JumpKind(StrEnum):
    """What happened to the wall clock between two readings."""

    NONE = "none"
    FORWARD = "forward"  # set ahead: the instants in between are passed at once
    BACKWARD = "backward"  # set back: instants already handled come round again
    SUSPEND = "suspend"  # the machine slept: the wall clock went on, the monotonic did not


class LoopAction(StrEnum):
    """What the daemon's loop does about a jump."""

    NOTHING = "nothing"
    # due instants on the heap may have passed: wake, the fires in between follow catchup
    FIRE_DUE = "fire_due"
    # the heap's instants are further away than the loop's sleep counted on: wake and
    # sleep again toward the same instants (nothing recomputed, nothing repeated)
    WAIT_AGAIN = "wait_again"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockJump:
    """The classification of the time between two readings.

    ``step``: how far the wall clock was set (seconds, + ahead, - back), beyond the time
    that passed; ``suspended``: how long the machine slept; ``kernel_set``: whether the
    kernel said the wall clock was set (even to the time it had)."""

    step: float = 0.0
    suspended: float = 0.0
    kernel_set: bool = False

    @property
    def ahead(self) -> float:
        """How much further the wall clock went than the monotonic clock the loop
        sleeps on: the suspend plus the step."""
        return self.step + self.suspended

    @property
    def kind(self) -> JumpKind:
        """What happened: a suspend, else a forward or a backward step, else nothing."""
        if self.suspended > TOLERANCE:
            return JumpKind.SUSPEND
        if self.step > TOLERANCE:
            return JumpKind.FORWARD
        if self.step < -TOLERANCE:
            return JumpKind.BACKWARD
        return JumpKind.NONE

    @property
    def action(self) -> LoopAction:
        """What the loop does: when the wall clock went further than the loop slept, the
        fires in between are due; after any other jump (or a set the kernel reported,
        however small) it waits again; else nothing."""
        if self.ahead > TOLERANCE:
            return LoopAction.FIRE_DUE
        if self.kind is not JumpKind.NONE or self.ahead < -TOLERANCE or self.kernel_set:
            return LoopAction.WAIT_AGAIN
        return LoopAction.NOTHING

    def describe(self) -> str:
        """The daemon's log line: ``wall clock stepped by +3600s``, ``resumed after 2h
        suspend``, both, or ``wall clock set (by +0.002s)`` for a set within tolerance."""
        parts = []
        if self.suspended > TOLERANCE:
            parts.append(f"resumed after {format_duration(round(self.suspended))} suspend")
        if abs(self.step) > TOLERANCE:
            parts.append(f"wall clock stepped by {self.step:+.0f}s")
        elif self.kernel_set:
            parts.append(f"wall clock set (by {self.step:+.3f}s)")
        if not parts:
            return "no clock jump"
        if self.action is LoopAction.FIRE_DUE:
            parts.append("the fires due since follow each job's catchup rules")
        if self.step < -TOLERANCE:
            parts.append("each job keeps its next fire after its last one (none runs twice)")
        return "; ".join(parts)


def classify(previous: ClockReading, current: ClockReading, *, kernel_set: bool = False) -> ClockJump:
    """What happened between ``previous`` and ``current`` (``kernel_set``: the kernel
    reported that the wall clock was set in between)."""
    boot_elapsed = current.boottime - previous.boottime
    suspended = boot_elapsed - (current.monotonic - previous.monotonic)
    step = (current.wall - previous.wall) - boot_elapsed
    # the readings are three calls apart: below a millisecond is their noise, not a jump
    return ClockJump(step=_denoise(step), suspended=_denoise(suspended), kernel_set=kernel_set)


def _denoise(seconds: float) -> float:
    return 0.0 if abs(seconds) < 0.001 else round(seconds, 3)


def schedule_after(last_fire: datetime | None, now: datetime) -> datetime:
    """The instant after which a job's next fire is computed: ``now``, but never before
    the last fire already handled, so that a wall clock set back repeats no nominal time."""
    if last_fire is None:
        return now
    return max(last_fire, now)
