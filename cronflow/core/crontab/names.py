"""Job names derived from shell commands, as crontab import names its files.

Pure. The name is the base name of the program that does the work, past preambles
(``cd /srv &&``, ``test -x f ||``), variable assignments and wrappers (``nice``,
``flock``, ``timeout``...); for interpreters, the script's (``python3 /opt/report.py``
is ``report``; ``run-parts /etc/cron.daily`` is ``cron.daily``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.@+-]+")
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", ".pl", ".rb", ".php", ".js")

# programs that run another program: (options that take a value, positionals to skip)
_NONE: frozenset[str] = frozenset()
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p", "--class", "--classdata"}), 0),
    "sudo": (frozenset({"-u", "-g", "--user", "--group"}), 0),
    "env": (frozenset({"-u", "--unset"}), 0),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "setlock": (_NONE, 1),
    **{name: (_NONE, 0) for name in ("nohup", "exec", "time", "chronic", "cronic")},
}
# programs whose first argument names the job better than they do
_INTERPRETERS = frozenset({
    "sh", "bash", "dash", "zsh", "ksh", "python", "python2", "python3", "perl", "ruby", "php",
    "node", "Rscript", "run-parts",
})
# commands that only prepare the real one (``cd /srv && ./run``, ``test -x f && f``)
_PREAMBLES = frozenset({"cd", "test", "[", "true", ":", "umask", "export", "set", "source", "."})
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", "{", "}"})


# -- names -----------------------------------------------------------------------------------


def _tokens(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: cron would hand them to the shell as they are
        return command.split()


def _program(tokens: list[str]) -> list[str]:
    """The words of the command that does the work, past preambles and wrappers."""
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS or (token and set(token) <= set("&|;()")):
            segments.append([])
        else:
            segments[-1].append(token)
    programs = [_unwrap(s) for s in segments]
    programs = [p for p in programs if p]
    # the first segment that is not a preamble; else the first one at all
    return next((p for p in programs if _base(p[0]) not in _PREAMBLES),
                programs[0] if programs else [])


def _unwrap(words: list[str]) -> list[str]:
    while words:
        head = _base(words[0])
        if "=" in words[0] and not words[0].startswith(("=", "/", ".")):
            words = words[1:]
            continue
        if head not in _WRAPPERS:
            return words
        valued, positionals = _WRAPPERS[head]
        rest = words[1:]
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option in valued and rest:
                rest.pop(0)
        while rest and head == "env" and "=" in rest[0]:
            rest.pop(0)
        words = rest[positionals:]
    return words


def _base(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1]


def job_name(command: str) -> str:
    """A job name from a command: the program's base name (the script's, for
    interpreters such as ``python3 /opt/report.py`` or ``run-parts /etc/cron.daily``)."""
    words = _program(_tokens(command))
    if not words:
        return "job"
    name = _base(words[0])
    if name in _INTERPRETERS:
        args = [w for w in words[1:] if not w.startswith("-")]
        if name.startswith("python") and "-m" in words[1:]:
            index = words.index("-m")
            args = words[index + 1:index + 2]
        if args and not (name in ("sh", "bash", "dash", "zsh", "ksh") and "-c" in words):
            name = _base(args[-1] if name == "run-parts" else args[0])
    for suffix in _SCRIPT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    name = _NAME_CHARS.sub("-", name).lstrip("._@+-").rstrip("-")
    return name or "job"


def unique_names(names: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """``names`` made distinct in order: the second ``backup`` becomes ``backup-2``."""
    used = set(taken)
    result: list[str] = []
    for name in names:
        candidate, counter = name, 1
        while candidate in used:
            counter += 1
            candidate = f"{name}-{counter}"
        used.add(candidate)
        result.append(candidate)
    return result
