"""Guesses about crontab lines (pure): is this comment a commented-out entry, and does
this crontab have a user field (a system crontab) or not.

A comment is a commented-out entry only when its first five words are valid cron fields,
each within its own range (``30 2 * * sat``), and a command follows: prose that merely
contains a digit ("run at 00:57 on every Sunday") is a comment like any other.

The user field is guessed from the entries themselves: a sixth field that is a user
name (``root``; a user the machine knows; or a plain word followed by what can only start
a command, such as ``if``, ``[`` or ``/usr/sbin/x``) and no entry whose sixth field
cannot be one (``/usr/bin/x``, ``if``, ``cd``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cronflow.core.crontab.names import RESERVED_NAMES
from cronflow.core.crontab.shell import is_assignment

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names) of each field
_FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (0, 7, _DAYS))
_MACROS = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
           "@hourly")
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?\Z")
# users every Debian-like system has, whether or not the importing machine does (less
# those that are also commands a crontab runs: `mail`, `man`, `lp`, `uucp`, `sync`)
WELL_KNOWN_USERS = frozenset({"root", "daemon", "bin", "sys", "games", "proxy", "www-data",
                              "list", "irc", "nobody"})
# words that can only start a command: after them, the word before was the user
_COMMAND_STARTS = frozenset({"if", "[", "[[", "test", "{", "!", "for", "while", "until", "case",
                             "cd", "command", "exec", "nice", "ionice", "sh", "bash", "env"})


def _value_ok(text: str, low: int, high: int, names: Sequence[str]) -> bool:
    if text.isdigit():
        return low <= int(text) <= high
    return text.lower() in names


def _part_ok(part: str, index: int) -> bool:
    low, high, names = _FIELDS[index]
    if index == 2 and re.fullmatch(r"L|LW|\d{1,2}W|L-\d{1,2}|\?", part):
        return True
    if index == 4 and re.fullmatch(r"\?|[0-7]L|[0-7]#[1-5]|[a-zA-Z]{3}(L|#[1-5])", part):
        return True
    base, slash, step = part.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return False
    if base == "*":
        return True
    first, dash, last = base.partition("-")
    if not _value_ok(first, low, high, names):
        return False
    return not dash or _value_ok(last, low, high, names)


def is_cron_schedule(fields: Sequence[str]) -> bool:
    """Whether five words are a valid cron time specification, each field in range."""
    return len(fields) == 5 and all(
        field and all(part and _part_ok(part, index) for part in field.split(","))
        for index, field in enumerate(fields))


def is_commented_entry(body: str, user_field: bool) -> bool:
    """Whether a comment's text (``#`` removed) is a crontab entry that was commented out."""
    words = body.split()
    if words and words[0].lower() in _MACROS:
        rest = words[1:]
    elif len(words) >= 5 and is_cron_schedule(words[:5]):
        rest = words[5:]
    else:
        return False
    if user_field:
        return len(rest) >= 2 and bool(_USER_NAME.match(rest[0]))
    return bool(rest) and not rest[0].startswith("=")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserFieldGuess:
    """``user_field``: whether the entries carry a user. ``line`` and ``word``: the entry
    that decided it (None when nothing did); ``mixed``: entries pointed both ways."""

    user_field: bool
    line: int | None = None
    word: str | None = None
    mixed: bool = False


def _verdict(words: list[str], is_user: Callable[[str], bool],
             is_program: Callable[[str], bool]) -> bool | None:
    """True: the sixth field is a user; False: it cannot be; None: cannot tell."""
    if len(words) < 2:
        return False
    word, following = words[0], words[1]
    if (not _USER_NAME.match(word) or word in RESERVED_NAMES or is_assignment(word)
            or word in _COMMAND_STARTS):
        return False
    if word == "root":
        return True
    if following in _COMMAND_STARTS or is_assignment(following):
        return True
    if following.startswith("-"):
        return None  # `backup --all`: a program and its option
    if is_user(word) and not is_program(word):
        return True
    if following.startswith("/") and not is_program(word):
        return True
    return None


def guess_user_field(entries: Sequence[tuple[int, str]], *,
                     is_user: Callable[[str], bool] | None = None,
                     is_program: Callable[[str], bool] | None = None) -> UserFieldGuess:
    """Guess from ``(line number, text after the five time fields)`` pairs.

    ``is_user`` and ``is_program`` ask the importing machine (its user database, its
    PATH); without them, only Debian's base users are known, and no programs.
    """
    is_user = is_user or WELL_KNOWN_USERS.__contains__
    is_program = is_program or (lambda word: False)
    decided: tuple[int, str] | None = None
    against = False
    for line, rest in entries:
        words = rest.split()
        verdict = _verdict(words, is_user, is_program)
        if verdict is True and decided is None:
            decided = (line, words[0])
        elif verdict is False:
            against = True
    if decided is None:
        return UserFieldGuess(user_field=False)
    if against:
        return UserFieldGuess(user_field=False, line=decided[0], word=decided[1], mixed=True)
    return UserFieldGuess(user_field=True, line=decided[0], word=decided[1])
