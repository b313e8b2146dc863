"""Crontab entries -> job files, and the notes on what could not be carried over.

Pure: the crontab's text comes in, job files (TOML tables and their text, written by
tomli-w) and notes go out. What cron does that cronflow does differently is handled
here, each with a note:

* Debian's guard idiom, ``test -x /usr/sbin/foo && foo`` (also ``[ -x ... ] &&`` and
  ``command -v foo >/dev/null &&``): cron.d files stay behind when their package is
  removed, and the guard makes the line do nothing then. Under cron a false guard is a
  silent exit 1 (cron ignores exit codes); under cronflow it would be a failed run, and
  an email with MAILTO, at every fire. The job's command becomes ``if GUARD; then REST;
  else echo '... nothing to do'; fi``: exactly the line while the guard holds, a
  succeeded run with that line in its log when it does not. This is decided when the
  job runs, not when it is imported, so installing or removing the package later needs
  no new import, and the import gives the same files on every machine.
* A ``%`` in the command: cron ends the command at the first one and feeds the rest to
  standard input; the job does the same (see :func:`job_command`) and a note points at
  it, since a ``%`` meant literally (``date +%F``) is a classic crontab bug.
* Names (:mod:`.names`) unique among the files already in the target directory: a file
  imported earlier from the same crontab line keeps its name (writing it again needs
  ``--force``), any other file's name is never reused.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cronflow.core.crontab.guess import UserFieldGuess, guess_user_field
from cronflow.core.crontab.names import job_name
from cronflow.core.crontab.parse import (
    SH, Entry, Note, Parsed, after_schedules, parse_crontab, printable)
from cronflow.core.crontab.shell import split_guard, unterminated

# shells whose `if ...; then ...; else ...; fi` the guard rewrite may use
_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ksh", "mksh", "zsh", "ash", "busybox"})
_HEADER_LINE = re.compile(r"# Imported from (.*) line \d+:\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedJob:
    """One job file to write: ``<name>.toml`` with ``text``, from crontab line ``line``."""

    name: str
    line: int
    table: Mapping[str, Any]
    text: str


def job_command(entry: Entry) -> str | list[str]:
    """The ``command`` value that runs ``entry`` as cron would.

    cron runs ``$SHELL -c COMMAND`` with the text after ``%`` on standard input.
    cronflow runs a string with ``/bin/sh -c``, so the default shell needs nothing more;
    another shell becomes an argv, and standard input is fed by ``printf`` through a
    pipe, which carries every byte but NUL (cron cannot carry NUL either).
    """
    shell = entry.shell if entry.shell and entry.shell not in SH else None
    if entry.stdin is None:
        return [shell, "-c", entry.command] if shell else entry.command
    runner = shlex.quote(shell or "/bin/sh")
    return (f"printf '%s' {shlex.quote(entry.stdin)} | {runner} -c "
            f"{shlex.quote(entry.command)}")


def job_table(entry: Entry) -> dict[str, Any]:
    """The job file's table for one entry, keys in the order a reader expects."""
    table: dict[str, Any] = {}
    if entry.description:
        table["description"] = entry.description
    table["command"] = job_command(entry)
    table["schedule"] = entry.schedule
    if entry.timezone:
        table["timezone"] = entry.timezone
    if entry.user:
        table["user"] = entry.user
    if entry.random_delay:
        table["jitter"] = f"{int(entry.random_delay)}m"
    if entry.env:
        table["env"] = dict(entry.env)
    if entry.mailto:
        addresses = [a.strip() for a in entry.mailto.split(",") if a.strip()]
        table["notify"] = [{"via": "email", "on": ["failure"],
                            "to": addresses[0] if len(addresses) == 1 else addresses}]
    return table


def render(entry: Entry, table: Mapping[str, Any], *, source_name: str) -> str:
    """The job file's text: where it came from, then the table (written by tomli-w)."""
    import tomli_w

    header = (f"# Imported from {printable(source_name)} line {entry.line}:\n"
              f"#   {printable(entry.source)}\n")
    return header + tomli_w.dumps(dict(table))


def imported_from(text: str) -> tuple[str, str] | None:
    """``(crontab name, crontab line)`` from the header of a file this module wrote, or
    None: how a new import recognises the file an earlier one made of the same line."""
    lines = text.split("\n", 2)
    if len(lines) < 2:
        return None
    match = _HEADER_LINE.match(lines[0])
    if match is None or not lines[1].startswith("#   "):
        return None
    return match.group(1), lines[1][4:]


# -- guards and % --------------------------------------------------------------------------------


def guarded(entry: Entry) -> tuple[Entry, Note | None]:
    """``entry`` with a leading guard (``test -x P &&``) made to succeed when false."""
    shell = (entry.shell or "sh").rsplit("/", 1)[-1]
    guard = split_guard(entry.command) if shell in _POSIX_SHELLS else None
    if guard is None:
        return entry, None
    if guard.program is not None:
        message = f"{guard.program} is not installed: nothing to do"
    else:
        message = f"nothing to do: {guard.test} is false"
    command = f"if {guard.test}; then {guard.rest}; else echo {shlex.quote(message)}; fi"
    note = Note(line=entry.line, message=(
        f"guard `{guard.test} &&`: where it is false (the package removed), cron did "
        f"nothing, silently; the job then succeeds printing {message!r} instead of failing "
        "at every fire"))
    return dataclasses.replace(entry, command=command), note


def percent_note(entry: Entry) -> Note | None:
    """The note for a command that cron splits at a ``%``, or None."""
    if entry.stdin is None:
        return None
    more = entry.stdin.count("\n")
    newlines = ("" if not more else "; the `%` after it became a newline" if more == 1
                else f"; the {more} `%` after it became newlines")
    message = (f"cron ends this command at its first unescaped `%` and feeds the rest to its "
               f"standard input{newlines}; the job does the same. If a `%` was meant "
               f"literally (`date +%F`), write it `\\%` in the crontab and import again")
    if unterminated(entry.command):
        message += (" (here the command ends inside a quote or `$(`: the line failed under "
                    "cron too)")
    return Note(line=entry.line, message=message)


def systemd_note(entry: Entry) -> Note | None:
    """A note for an entry that stands down when the machine runs systemd."""
    if "/run/systemd/system" not in entry.command:
        return None
    return Note(line=entry.line, message=(
        "this command does nothing on a machine booted with systemd (it checks "
        "/run/systemd/system; the package's systemd timer does the work there): import it "
        "only where cron ran it"))


# -- the whole crontab ---------------------------------------------------------------------------


def guess_note(guess: UserFieldGuess, *, from_stdin: bool) -> Note | None:
    """What the user-field guess tells the user (None when there was nothing to guess)."""
    if guess.word is None:
        return None
    if guess.mixed:
        return Note(line=guess.line, message=(
            f"warning: the sixth field {guess.word!r} looks like a user (a system crontab), "
            "but other lines have none; read without a user field: pass --user-field if "
            "this is /etc/crontab or a cron.d file"))
    # a file gets a note; standard input, where no path told, a warning
    where = "warning: standard input read as" if from_stdin else "read as"
    return Note(line=guess.line, message=(
        f"{where} a system crontab (the sixth field {guess.word!r} is a user): each line's "
        "sixth field became its `user`; pass --no-user-field if it is part of the command"))


def import_crontab(text: str, *, user_field: bool | None = False, source_name: str = "crontab",
                   check: Callable[[str, str], str | None] | None = None,
                   taken: Collection[str] = (), previous: Mapping[tuple[str, str], str] | None = None,
                   fallback_name: str = "job", is_user: Callable[[str], bool] | None = None,
                   is_program: Callable[[str], bool] | None = None,
                   ) -> tuple[list[ImportedJob], list[Note]]:
    """Convert a crontab into job files and the notes on what was not carried over.

    ``user_field=None`` guesses it from the entries (:func:`.guess.guess_user_field`,
    asking ``is_user``/``is_program``), with a note. ``taken``: names already used in
    the target directory; ``previous``: the names of files imported earlier, by
    :func:`imported_from`. ``fallback_name`` names a job whose command names no program
    (``perl -e '...'``), normally the crontab file's name.

    ``check(file_name, text) -> str | None`` validates one rendered file (the message
    of its first error, or None); an entry whose file fails is reported and left out,
    so that every file produced passes ``cronflow check``. Notes are sorted by line.
    """
    notes: list[Note] = []
    if user_field is None:
        guess = guess_user_field(after_schedules(text), is_user=is_user, is_program=is_program)
        note = guess_note(guess, from_stdin=source_name == "<stdin>")
        if note is not None:
            notes.append(note)
        user_field = guess.user_field
    parsed = parse_crontab(text, user_field=user_field)
    notes.extend(parsed.notes)
    names = _names(parsed.entries, source_name, taken, previous or {}, fallback_name)
    jobs: list[ImportedJob] = []
    imported: list[Entry] = []
    for name, entry in zip(names, parsed.entries):
        runnable, guard_note = guarded(entry)
        table = job_table(runnable)
        rendered = render(entry, table, source_name=source_name)
        problem = check(f"{name}.toml", rendered) if check is not None else None
        if problem:
            notes.append(Note(line=entry.line, message=f"not imported: {problem}"))
            continue
        jobs.append(ImportedJob(name=name, line=entry.line, table=table, text=rendered))
        imported.append(entry)
        notes.extend(n for n in (guard_note, percent_note(entry), systemd_note(entry)) if n)
        if entry.schedule == "@reboot":
            notes.append(Note(line=entry.line, message=(
                "@reboot: cron ran this when cron started at boot; cronflow runs it once per "
                "boot (by kernel boot id) when its daemon starts, even if that is long after "
                "boot")))
    notes.extend(_mail_notes(parsed, imported))
    if user_field and jobs:
        notes.append(Note(line=None, message=(
            "the user field became `user = ...`, which cronflow honours only when its daemon "
            "runs as root")))
    notes.sort(key=lambda n: (n.line is None, n.line or 0))
    return jobs, notes


def _names(entries: Iterable[Entry], source_name: str, taken: Collection[str],
           previous: Mapping[tuple[str, str], str], fallback: str) -> list[str]:
    """One name per entry: the earlier import's for the same line, else a new one that
    no file in the directory (nor another entry) has."""
    used = set(taken) | set(previous.values())
    kept: set[str] = set()
    names: list[str] = []
    for entry in entries:
        name = previous.get((printable(source_name), printable(entry.source)))
        if name is None or name in kept:
            base = name = job_name(entry.command, fallback)
            counter = 1
            while name in used:
                counter += 1
                name = f"{base}-{counter}"
        kept.add(name)
        used.add(name)
        names.append(name)
    return names


def _mail_notes(parsed: Parsed, entries: list[Entry]) -> list[Note]:
    notes: list[Note] = []
    for address, line in parsed.mailto_lines.items():
        if any(e.mailto == address for e in entries):
            notes.append(Note(line=line, message=(
                f"MAILTO={address}: cron mailed any output of a job; the imported jobs email "
                f"{address} on failure only, and keep their output in the run log "
                "(`cronflow logs RUN_ID`)")))
    if any(e.mailto is None for e in entries):
        notes.append(Note(line=None, message=(
            "cron mailed the output of jobs without MAILTO to the crontab's owner; cronflow "
            "keeps it in each run's log (`cronflow logs RUN_ID`) and notifies only through "
            "[[notify]] tables")))
    return notes
