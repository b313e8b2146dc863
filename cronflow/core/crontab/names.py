"""Job names derived from shell commands, as crontab import names its files.

Pure. The name is the base name of the program that does the work: past reserved words
(``if [ -x f ]; then f; fi``), tests and other preambles (``test -x f &&``,
``command -v f >/dev/null &&``, ``cd /srv &&``), variable assignments and wrappers
(``nice``, ``ionice``, ``flock``, ``timeout``, ``command``, ``exec``...); for
interpreters, the script's (``python3 /opt/report.py`` is ``report``; ``run-parts
/etc/cron.daily`` is ``cron.daily``). Inline code (``perl -e '...'``, ``sh -c '...'``)
names nothing: the next program does, else the crontab file (``fallback``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cronflow.core.crontab.shell import KEYWORDS, is_assignment, simple_commands

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
    **{name: (_NONE, 0) for name in ("nohup", "exec", "time", "chronic", "cronic", "command",
                                     "builtin", "chrt", "taskset")},
}
# programs whose first argument names the job better than they do
_INTERPRETERS = frozenset({
    "sh", "bash", "dash", "zsh", "ksh", "python", "python2", "python3", "perl", "ruby", "php",
    "node", "Rscript", "run-parts", "invoke-rc.d", "service",
})
# the flag after which an interpreter's argument is code, not a script
_INLINE_FLAGS = {"sh": "-c", "bash": "-c", "dash": "-c", "zsh": "-c", "ksh": "-c",
                 "python": "-c", "python2": "-c", "python3": "-c", "perl": "-e", "ruby": "-e",
                 "php": "-r", "node": "-e"}
# commands that only prepare or check for the real one (``cd /srv && ./run``, ``test -x f``)
_PREAMBLES = frozenset({"cd", "test", "[", "[[", "true", "false", ":", "umask", "export", "set",
                        "source", ".", "sleep", "which", "type", "hash", "ulimit", "unset",
                        "renice", "trap", "shift", "local", "readonly", "eval", "exit", "return"})
# names a job must not get: they say nothing of its work (and read as shell keywords)
RESERVED_NAMES = KEYWORDS | _PREAMBLES | frozenset(_WRAPPERS) | frozenset({"job"})


def _unwrap(words: list[str]) -> list[str]:
    while words:
        if is_assignment(words[0]):
            words = words[1:]
            continue
        head = _base(words[0])
        if head == "command" and len(words) > 1 and words[1] in ("-v", "-V"):
            return words  # `command -v prog`: a test, not a run of prog
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


def _is_inline(words: list[str]) -> bool:
    flag = _INLINE_FLAGS.get(_base(words[0]))
    return flag is not None and flag in words[1:]


def _is_preamble(words: list[str]) -> bool:
    head = _base(words[0])
    return head in _PREAMBLES or (head == "command" and len(words) > 1)


def program_words(command: str) -> list[str] | None:
    """The words of the simple command that does the work, or None when every one of
    them only prepares, tests or runs inline code."""
    for words in simple_commands(command):
        words = _unwrap(words)
        if words and not _is_preamble(words) and not _is_inline(words):
            return words
    return None


def _clean(name: str) -> str:
    for suffix in _SCRIPT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return _NAME_CHARS.sub("-", name).lstrip("._@+-").rstrip("-")


def job_name(command: str, fallback: str = "job") -> str:
    """A job name from a command: the program's base name (the script's, for
    interpreters such as ``python3 /opt/report.py`` or ``run-parts /etc/cron.daily``);
    ``fallback`` (the crontab file's name) when no program names the work."""
    words = program_words(command)
    name = ""
    if words:
        name = _base(words[0])
        if name in _INTERPRETERS:
            args = [w for w in words[1:] if not w.startswith("-")]
            if name.startswith("python") and "-m" in words[1:]:
                index = words.index("-m")
                args = words[index + 1:index + 2]
            if args:
                name = _base(args[-1] if name == "run-parts" else args[0])
        name = _clean(name)
    if not name or name in RESERVED_NAMES:
        name = _clean(fallback)
    return name if name and name not in RESERVED_NAMES else "job"


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
