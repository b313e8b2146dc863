"""Crontab text -> entries, and notes on the lines that are not entries.

Pure: the text comes in, entries and notes go out (:mod:`.convert` makes job files of
the entries). The rules are Vixie/Debian cron's (``crontab(5)``):

* ``NAME = VALUE`` lines set the environment of the entries *after* them; matching
  quotes around the name or the value are removed and nothing is expanded. ``CRON_TZ``
  becomes ``timezone``, ``SHELL`` the program that runs the command, ``MAILTO`` an
  ``email`` notifier; cronie's ``RANDOM_DELAY`` (minutes) becomes ``jitter``; the rest
  go to ``[env]``.
* An entry is five time fields (or an ``@macro``), the user in ``/etc/crontab`` and
  ``cron.d`` files, then the command. The first unescaped ``%`` ends the command; what
  follows is the command's standard input, each ``%`` a newline; ``\\%`` is a literal
  ``%`` in both parts.
* The comment lines right above an entry become its ``description``; a comment that
  is an entry commented out (:func:`.guess.is_commented_entry`) is reported instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cronflow.core.crontab.guess import is_commented_entry
from cronflow.core.schedule.cron import MACROS as CRON_MACROS

SH = ("/bin/sh", "/usr/bin/sh", "sh")
MACROS = ("@reboot", *CRON_MACROS)

_ENV_LINE = re.compile(r"""\s*("[^"]*"|'[^']*'|[^\s="']+)\s*=(.*)\Z""")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER = re.compile(r"m\s+h\s+dom\s+mon\s+dow\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """Something in the crontab that the job files do not carry over (``line`` 1-based)."""

    line: int | None
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One crontab entry, with the environment lines in force where it stands."""

    line: int
    source: str
    schedule: str
    user: str | None
    command: str
    stdin: str | None
    description: str = ""
    shell: str | None = None
    timezone: str | None = None
    mailto: str | None = None
    random_delay: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """The entries of a crontab and the notes about lines that are not entries."""

    entries: tuple[Entry, ...]
    notes: tuple[Note, ...]
    mailto_lines: Mapping[str, int] = field(default_factory=dict)


def split_percent(command: str) -> tuple[str, str | None]:
    """Cron's ``%`` rule: ``(command, stdin)``; stdin is None when there is no ``%``.

    The first unescaped ``%`` ends the command; in what follows, ``%`` is a newline.
    ``\\%`` is a literal ``%`` on both sides; any other backslash is kept, as cron keeps it.
    """
    head, rest = _unescape_percent(command, split=True)
    if rest is None:
        return head, None
    stdin, _ = _unescape_percent(rest, split=False)
    return head, stdin


def _unescape_percent(text: str, *, split: bool) -> tuple[str, str | None]:
    """One pass of cron's escapes over ``text``. With ``split``, stop at the first
    unescaped ``%`` and return the raw remainder; without, each one becomes a newline."""
    out: list[str] = []
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
            if char != "%":
                out.append("\\")
        elif char == "\\":
            escaped = True
            continue
        elif char == "%":
            if split:
                return "".join(out), text[index + 1:]
            char = "\n"
        out.append(char)
    if escaped:
        out.append("\\")
    return "".join(out), None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_env_line(line: str) -> tuple[str, str] | None:
    """``NAME = VALUE`` as cron reads it, or None when the line is not an env setting."""
    match = _ENV_LINE.match(line)
    if match is None:
        return None
    name = _unquote(match.group(1))
    if not name or "=" in name:
        return None
    return name, _unquote(match.group(2).strip())


def _schedule_and_rest(line: str) -> tuple[str, str] | None:
    """``("m h dom mon dow", rest)`` or ``("@daily", rest)``; None if not an entry."""
    stripped = line.lstrip()
    if stripped.startswith("@"):
        parts = stripped.split(None, 1)
        return (parts[0], parts[1] if len(parts) > 1 else "")
    parts = stripped.split(None, 5)
    if len(parts) < 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,#?LW-]+", p) for p in parts[:5]):
        return None
    if not any(ch.isdigit() or ch == "*" for ch in "".join(parts[:5])):
        return None
    return " ".join(parts[:5]), parts[5] if len(parts) > 5 else ""


def parse_crontab(text: str, *, user_field: bool = False) -> Parsed:
    """Read a crontab: its entries (with env, comments) and notes on lines left out."""
    entries: list[Entry] = []
    notes: list[Note] = []
    env: dict[str, str] = {}
    special: dict[str, str | None] = {"SHELL": None, "CRON_TZ": None, "MAILTO": None,
                                      "RANDOM_DELAY": None}
    mailto_lines: dict[str, int] = {}
    comments: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            body = line.lstrip("#").strip()
            if _HEADER.match(body):
                comments = []
            elif is_commented_entry(body, user_field):
                notes.append(Note(line=number, message="commented-out entry, not imported"))
                comments = []
            elif body:
                comments.append(body)
            continue
        setting = None if line[0] in "@*" or line[0].isdigit() else parse_env_line(line)
        if setting is not None:
            name, value = setting
            if name == "RANDOM_DELAY":
                value, note = _random_delay(value)
                notes.append(Note(line=number, message=note))
            if name in special:
                special[name] = value
                if name == "MAILTO" and value:
                    mailto_lines.setdefault(value, number)
            else:
                env[name] = value
            comments = []
            continue
        entry = _entry(number, raw, line, user_field, env, special, " ".join(comments))
        comments = []
        if isinstance(entry, Note):
            notes.append(entry)
        else:
            entries.append(entry)
    return Parsed(entries=tuple(entries), notes=tuple(notes), mailto_lines=mailto_lines)


def _random_delay(value: str) -> tuple[str | None, str]:
    """cronie's ``RANDOM_DELAY`` (minutes) as a jitter, and the note saying so."""
    if not value.isdigit():
        return None, f"RANDOM_DELAY={value!r} is not a number of minutes; ignored"
    return (value if int(value) else None), (
        "RANDOM_DELAY became `jitter` on the entries below it: cronflow's delay is fixed per "
        "job and fire time (a hash), where cronie draws one at random when it starts")


def _entry(number: int, raw: str, line: str, user_field: bool, env: Mapping[str, str],
           special: Mapping[str, str | None], description: str) -> Entry | Note:
    found = _schedule_and_rest(line)
    if found is None:
        return Note(line=number, message=f"not a crontab entry or environment setting, "
                    f"not imported: {_printable(line)!r}")
    schedule, rest = found
    if schedule.startswith("@") and schedule.lower() not in MACROS:
        return Note(line=number, message=f"unknown cron macro {schedule!r}, not imported; "
                    f"macros: {' '.join(MACROS)}")
    schedule = schedule.lower() if schedule.startswith("@") else schedule
    user = None
    if user_field:
        parts = rest.split(None, 1)
        if len(parts) < 2:
            return Note(line=number, message="entry has no user and command (this file has a "
                        "user field), not imported")
        user, rest = parts
    command, stdin = split_percent(rest.strip())
    if not command.strip():
        return Note(line=number, message="entry has no command, not imported")
    return Entry(line=number, source=raw.strip(), schedule=schedule, user=user,
                 command=command.strip(), stdin=stdin, description=description,
                 shell=special["SHELL"], timezone=special["CRON_TZ"],
                 mailto=special["MAILTO"], random_delay=special["RANDOM_DELAY"], env=dict(env))


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN`` (for comments and notes)."""
    return _printable(text)


def after_schedules(text: str) -> list[tuple[int, str]]:
    """``(line number, text after the time fields)`` of each entry line: what a guess
    about the user field looks at."""
    found: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not (line[0] in "@*" or line[0].isdigit()) and parse_env_line(line) is not None:
            continue
        parts = _schedule_and_rest(line)
        if parts is not None:
            found.append((number, parts[1]))
    return found
