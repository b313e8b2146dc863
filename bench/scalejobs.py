"""Job files for the scale bench: a realistic mix, none of it due for a while.

:func:`write_mix` writes N files as a real jobs dir would hold them: 5-field cron, 6-field
cron with seconds, natural language, intervals, ``H`` hashed cron, once-forms, some with a
time zone, tags, retry, timeout, env, and a few flows whose steps name jobs of the dir.
Every wall-clock schedule is placed at hours away from the current time in its zone, and
every interval is one whose next epoch-anchored fire is more than ``quiet`` seconds off,
so the daemon under test has nothing to fire while it is measured.

:func:`write_burst` writes the burst dir: N jobs due in the same second, running the stamp.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# interval forms (SPEC section 5), their length in seconds
INTERVALS = (("every 6 hours", 6 * 3600), ("every 90 minutes", 5400), ("every 48:00:00", 48 * 3600),
             ("every 31 minutes and 12 seconds", 1872), ("every 5 hours", 5 * 3600),
             ("every 2 hours", 7200), ("every 40 minutes", 2400), ("every 3 hours", 3 * 3600))
COMMANDS = ('["true"]', '"echo hello; exit 0"', '["sh", "-c", "exit 0"]', '["/bin/true", "--flag"]')
FLOW_EVERY = 100  # one flow per this many files


def _far_hours(zone: str, now: datetime) -> list[int]:
    """Hours of the day (local to ``zone``) at least two hours from now, either side."""
    local = now.astimezone(ZoneInfo(zone)).hour
    return [(local + 3 + k) % 24 for k in range(19)]


def _quiet_intervals(now: float, quiet: float) -> list[str]:
    """The interval forms whose next epoch-anchored fire is more than ``quiet`` s off."""
    return [text for text, length in INTERVALS if math.ceil(now / length) * length - now > quiet]


def _schedule(i: int, zone: str, hours: list[int], intervals: list[str], today: int) -> str:
    """The i-th schedule of the mix, in ``zone`` (placed at one of ``hours``)."""
    h = hours[i % len(hours)]
    m, s = i % 60, (i * 7) % 60
    day = DAYS[(today + 2 + i % 4) % 7]  # not today, nor tomorrow (past midnight)
    kind = i % 20
    if kind < 6:
        return f"{m} {h} * * *"
    if kind == 6:
        return f"{m} {h} * * 1-5"
    if kind == 7:
        return f"{m} {h} 1,15 * *"
    if kind == 8:
        return f"{m} {h} L * *"
    if kind < 11:
        return f"{s} {m} {h} * * *"
    if kind == 11:
        return f"every {day} at {h:02d}:{m:02d}:{s:02d}"
    if kind == 12:
        return f"every day at {h:02d}:{m:02d}"
    if kind == 13:
        return intervals[i % len(intervals)] if intervals else f"{m} {h} * * *"
    if kind == 14:
        return f"H {h} * * *"
    if kind == 15:
        return f"H(0-29) {h} * * {(today + 2) % 7}"
    if kind == 16:
        return f"H/15 {h} * * *"
    if kind == 17:
        return f"once in {5 + i % 7} hours"
    if kind == 18:
        return "@yearly" if datetime.now(timezone.utc).timetuple().tm_yday > 2 else f"{m} {h} 2 2 *"
    return f"2030-04-01 {h:02d}:{m:02d}"


def _job_text(i: int, schedule: str, zone: str | None) -> str:
    lines = [f"description = \"bench job {i}\"", f"schedule = {json.dumps(schedule)}",
             f"command = {COMMANDS[i % len(COMMANDS)]}"]
    if zone is not None:
        lines.append(f"timezone = \"{zone}\"")
    if i % 3 == 0:
        lines.append(f"tags = [\"bench\", \"team{i % 17}\"]")
    if i % 5 == 0:
        lines.append("timeout = \"15m\"")
    if i % 11 == 0:
        lines.append("overlap = \"buffer_one\"")
    if i % 13 == 0:
        lines.append("jitter = \"30s\"")
    if i % 7 == 0:
        lines += ["", "[env]", f"BENCH_INDEX = \"{i}\"", "LANG = \"C.UTF-8\""]
    if i % 9 == 0:
        lines += ["", "[retry]", "policy = \"exponential\"", "attempts = 3", "delay = \"30s\"",
                  "max_delay = \"10m\""]
    return "\n".join(lines) + "\n"


def _flow_text(i: int, schedule: str, zone: str | None, jobs: list[str]) -> str:
    lines = [f"description = \"bench flow {i}\"", f"schedule = {json.dumps(schedule)}", "overlap = \"skip\""]
    if zone is not None:
        lines.append(f"timezone = \"{zone}\"")
    lines += ["", "[[steps]]", "name = \"first\"", f"job = \"{jobs[0]}\"",
              "", "[[steps]]", "name = \"second\"", f"job = \"{jobs[1]}\"",
              "", "[[steps]]", "name = \"fan\"", "command = [\"true\"]", "foreach = [\"a\", \"b\"]",
              "", "[[steps]]", "name = \"last\"", "needs = [\"first\", \"second\", \"fan\"]",
              "command = \"exit 0\"", "continue_on_failure = true"]
    return "\n".join(lines) + "\n"


def write_mix(jobs: Path, count: int, *, quiet: float = 3600.0) -> dict[str, int]:
    """Write ``count`` job and flow files into ``jobs``; return how many of each kind."""
    jobs.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    intervals = _quiet_intervals(time.time(), quiet)
    hours = {zone: _far_hours(zone, now) for zone in ZONES}
    today = now.weekday()
    local_today = {zone: now.astimezone(ZoneInfo(zone)).weekday() for zone in ZONES}
    width = len(str(count))
    kinds = {"job": 0, "flow": 0}
    for i in range(count):
        zone = ZONES[i % len(ZONES)] if i % 4 == 0 else None
        # no timezone key: the daemon's default zone, UTC in the bench
        where = zone or "UTC"
        schedule = _schedule(i, where, hours[where], intervals, local_today.get(where, today))
        name = f"job{i:0{width}d}"
        if i % FLOW_EVERY == FLOW_EVERY - 1:
            steps = [f"job{i - 1:0{width}d}", f"job{i - 2:0{width}d}"]
            text = _flow_text(i, schedule, zone, steps)
            kinds["flow"] += 1
        else:
            text = _job_text(i, schedule, zone)
            kinds["job"] += 1
        (jobs / f"{name}.toml").write_text(text)
    return kinds


def burst_instant(lead: float) -> int:
    """A whole epoch second at least ``lead`` seconds from now (not near a minute's end)."""
    t = math.ceil(time.time() + lead)
    while t % 60 > 45:  # the H form spreads over seconds 0-9 past the burst second
        t += 1
    return t


def write_burst(jobs: Path, count: int, at: int, stamp: list[str], stamp_file: Path, *,
                form: str) -> None:
    """``count`` jobs due at epoch second ``at`` (UTC). ``form``: "plain" (a 6-field cron
    at that second), "jitter" (the same with ``jitter = "10s"``) or "hashed" (``H(0-9)``
    seconds from that second: the jobs' names spread them over 10 s)."""
    jobs.mkdir(parents=True, exist_ok=True)
    when = datetime.fromtimestamp(at, timezone.utc)
    for i in range(count):
        name = f"burst{i:04d}"
        if form == "hashed":
            low = when.second
            schedule = f"H({low}-{low + 9}) {when.minute} {when.hour} {when.day} {when.month} *"
        else:
            schedule = f"{when.second} {when.minute} {when.hour} {when.day} {when.month} *"
        text = (f"schedule = {json.dumps(schedule)}\ntimezone = \"UTC\"\n"
                f"command = {json.dumps([*stamp, str(stamp_file), name])}\n"
                "catchup = \"none\"\n")
        if form == "jitter":
            text += "jitter = \"10s\"\n"
        (jobs / f"{name}.toml").write_text(text)


def burst_due(name: str, nominal: float, form: str) -> float:
    """When job ``name`` of a burst is due: its nominal instant, plus its jitter offset
    (the daemon's own deterministic draw) for the jitter form."""
    if form != "jitter":
        return nominal
    from cronflow.core.fire.catchup import jitter_offset

    return nominal + jitter_offset(name, datetime.fromtimestamp(nominal, timezone.utc), 10.0)

