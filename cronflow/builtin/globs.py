"""Path patterns for the ``files`` trigger: which directory to watch, what matches.

Pure: no file system access. ``*`` and ``?`` never cross ``/``; ``**`` matches any
number of directories (``/data/**/*.csv``); ``[abc]`` is a character class. A pattern
without wildcards names a file or a directory (a change anywhere under it matches).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_WILDCARDS = set("*?[")


def has_wildcards(pattern: str) -> bool:
    """True when ``pattern`` is a glob rather than a plain path."""
    return any(char in _WILDCARDS for char in pattern)


def watch_root(pattern: str) -> str:
    """The deepest directory (or plain path) before the first wildcard."""
    if not has_wildcards(pattern):
        return pattern
    parts = PurePosixPath(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if has_wildcards(part):
            break
        fixed.append(part)
    return str(PurePosixPath(*fixed)) if fixed else "."


def is_recursive(pattern: str) -> bool:
    """Whether matching needs more than one directory level under the root."""
    if "**" in pattern:
        return True
    if not has_wildcards(pattern):
        return True  # a directory: changes anywhere under it count
    root_depth = len(PurePosixPath(watch_root(pattern)).parts)
    return len(PurePosixPath(pattern).parts) - root_depth > 1


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex matching the full paths that ``pattern`` names."""
    pattern = pattern.rstrip("/") or "/"
    if not has_wildcards(pattern):
        return re.compile(re.escape(pattern) + r"(?:/.*)?\Z", re.DOTALL)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif char == "*":
            out.append(r"[^/]*")
            i += 1
        elif char == "?":
            out.append(r"[^/]")
            i += 1
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)
