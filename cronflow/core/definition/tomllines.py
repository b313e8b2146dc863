"""Where each key of a TOML document is written: key path -> 1-based line.

``tomllib`` decodes a document but forgets positions; cronflow's errors must point at the
offending line. :func:`locate_keys` scans the text of an already valid document (run it
only after ``tomllib.loads`` succeeded) and records, for each key path, the line of its
first mention:

* ``command = ...`` at top level -> ``("command",)``
* ``[retry]`` -> ``("retry",)``; ``attempts = 3`` below it -> ``("retry", "attempts")``
* ``[[notify]]`` (the second one) -> ``("notify", 1)``; its ``via`` -> ``("notify", 1, "via")``
* ``[[phases.steps]]`` under the first ``[[phases]]`` -> ``("phases", 0, "steps", 0)``
* array elements and inline-table keys -> ``("schedule", 2)``, ``("env", "HOME")``

Strings (all four kinds, multi-line included), comments and multi-line arrays are
skipped as values, so a ``key = 1`` written inside a multi-line string is never mistaken
for a key. Pure: text in, mapping out.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections.abc import Iterable, Iterator, Mapping

KeyPath = tuple[str | int, ...]

_WS = re.compile(r"[ \t]*")
# whitespace, newlines and comments between tokens
_GAP = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL = re.compile(r"'[^'\n]*'")
# a closing delimiter may be preceded by up to two quotes that belong to the content
_ML_BASIC = re.compile(r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""(?:"{1,2})?')
_ML_LITERAL = re.compile(r"'''(?:[^']|'(?!''))*'''(?:'{1,2})?")
# numbers, booleans, dates and times: everything up to a delimiter
_SCALAR = re.compile(r"[^,\]}#\n]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class KeyLines:
    """The located keys of one document, with a forgiving lookup.

    Built from the text, the scan runs on the first lookup: a good file whose lines are
    never asked for (no error, no plugin table) costs nothing beyond ``tomllib``.
    """

    __slots__ = ("_text", "_found")

    def __init__(self, text: str) -> None:
        # kept after a scan (see forget): a definition holds its text anyway
        self._text = text
        self._found: dict[KeyPath, int] | None = None

    @property
    def _lines(self) -> dict[KeyPath, int]:
        if self._found is None:
            scanner = _Scanner(self._text)
            try:
                scanner.run()
            except (IndexError, AttributeError):
                # a construct this scanner does not know: keep what it located, and let
                # lookups fall back to the nearest parent rather than fail a user's check
                pass
            self._found = scanner.found
        return self._found

    def forget(self) -> None:
        """Drop the scan (a later lookup scans again). A file's check asks for lines of
        its plugin tables (each ``[retry]``, ``[[notify]]``); a loaded definition keeps
        its locator for errors found later, which are rare: the located keys of
        every such file would otherwise stay, 2 KB each (1,200 files in 10,000)."""
        self._found = None

    def get(self, *path: str | int) -> int | None:
        """The line of exactly ``path``, or None when it is not written in the file."""
        return self._lines.get(tuple(path))

    def line(self, *path: str | int) -> int:
        """The line of ``path``, or of its nearest written ancestor, or 1.

        A value built from defaults or an inline construct that was not located still
        points at the closest place the user can look at.
        """
        key = tuple(path)
        while key:
            found = self._lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return 1

    def as_dict(self) -> dict[KeyPath, int]:
        """A copy of every located path."""
        return dict(self._lines)


def locate_keys(text: str) -> KeyLines:
    """Locate every key, table header and array element of a valid TOML ``text``."""
    return KeyLines(text)


class TopLines(Mapping[str, int]):
    """``key -> line`` for the top-level keys of a document, located on first access.

    What ``Job.lines`` / ``Flow.lines`` hold: read only when an error must point at a key.
    """

    __slots__ = ("_keys", "_lines")

    def __init__(self, keys: Iterable[str], lines: KeyLines) -> None:
        # interned: the parsed document's own copies of "command", "schedule" can go
        self._keys = tuple(map(sys.intern, keys))
        self._lines = lines

    def __getitem__(self, key: str) -> int:
        if key not in self._keys:
            raise KeyError(key)
        return self._lines.line(key)

    def at(self, *path: str | int) -> int:
        """The line of a nested ``path`` (``("schedule", 2)``), or of its nearest written
        ancestor: for warnings found after loading, on an array element or a table key."""
        return self._lines.line(*path)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return repr(dict(self))


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.found: dict[KeyPath, int] = {}
        # concrete path of an array of tables -> number of elements seen so far
        self.arrays: dict[KeyPath, int] = {}

    def line_at(self, pos: int) -> int:
        return bisect.bisect_right(self.newlines, pos - 1) + 1

    def record(self, path: KeyPath, pos: int) -> None:
        if path not in self.found:
            self.found[path] = self.line_at(pos)

    def run(self) -> dict[KeyPath, int]:
        text = self.text
        pos = 0
        table: KeyPath = ()
        end = len(text)
        while True:
            pos = _GAP.match(text, pos).end()
            if pos >= end:
                return self.found
            if text.startswith("[[", pos):
                table, pos = self._array_header(pos)
            elif text[pos] == "[":
                table, pos = self._table_header(pos)
            else:
                pos = self._key_value(pos, table)

    def _resolve(self, parts: list[str]) -> KeyPath:
        # `a.b` under an earlier `[[a]]` means "b of the latest element of a"
        path: KeyPath = ()
        for part in parts:
            path = path + (part,)
            count = self.arrays.get(path)
            if count:
                path = path + (count - 1,)
        return path

    def _array_header(self, pos: int) -> tuple[KeyPath, int]:
        start = pos
        parts, pos = self._key(pos + 2)
        pos = _WS.match(self.text, pos).end() + 2  # "]]"
        parent = self._resolve(parts[:-1])
        concrete = parent + (parts[-1],)
        index = self.arrays.get(concrete, 0)
        self.arrays[concrete] = index + 1
        self._record_prefixes(concrete, start)
        path = concrete + (index,)
        self.record(path, start)
        return path, pos

    def _table_header(self, pos: int) -> tuple[KeyPath, int]:
        start = pos
        parts, pos = self._key(pos + 1)
        pos = _WS.match(self.text, pos).end() + 1  # "]"
        path = self._resolve(parts)
        self._record_prefixes(path, start)
        return path, pos

    def _record_prefixes(self, path: KeyPath, pos: int) -> None:
        for i in range(1, len(path) + 1):
            self.record(path[:i], pos)

    def _key_value(self, pos: int, table: KeyPath) -> int:
        start = pos
        parts, pos = self._key(pos)
        pos = _WS.match(self.text, pos).end() + 1  # "="
        path = table + tuple(parts)
        # dotted keys define their intermediate tables on this line
        for i in range(len(table) + 1, len(path) + 1):
            self.record(path[:i], start)
        return self._value(_WS.match(self.text, pos).end(), path)

    def _key(self, pos: int) -> tuple[list[str], int]:
        """Parse a possibly dotted, possibly quoted key; return its parts and the end."""
        text = self.text
        parts: list[str] = []
        while True:
            pos = _WS.match(text, pos).end()
            char = text[pos]
            if char == '"':
                match = _BASIC.match(text, pos)
                parts.append(_unescape(match.group()[1:-1]))
            elif char == "'":
                match = _LITERAL.match(text, pos)
                parts.append(match.group()[1:-1])
            else:
                match = _BARE_KEY.match(text, pos)
                parts.append(match.group())
            pos = _WS.match(text, match.end()).end()
            if pos < len(text) and text[pos] == ".":
                pos += 1
                continue
            return parts, pos

    def _value(self, pos: int, path: KeyPath) -> int:
        """Skip one value starting at ``pos``, recording keys and elements inside it."""
        text = self.text
        char = text[pos]
        if char == "[":
            return self._array(pos + 1, path)
        if char == "{":
            return self._inline_table(pos + 1, path)
        for pattern in (_ML_BASIC, _ML_LITERAL, _BASIC, _LITERAL, _SCALAR):
            match = pattern.match(text, pos)
            if match:
                return match.end()
        return pos + 1  # unreachable on valid TOML; never loop forever

    def _array(self, pos: int, path: KeyPath) -> int:
        text = self.text
        index = 0
        while True:
            pos = _GAP.match(text, pos).end()
            if text[pos] == "]":
                return pos + 1
            if text[pos] == ",":
                pos += 1
                continue
            self.record(path + (index,), pos)
            pos = self._value(pos, path + (index,))
            index += 1

    def _inline_table(self, pos: int, path: KeyPath) -> int:
        text = self.text
        while True:
            pos = _GAP.match(text, pos).end()
            if text[pos] == "}":
                return pos + 1
            if text[pos] == ",":
                pos += 1
                continue
            pos = self._key_value(pos, path)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body

    def sub(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] in "uU":
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", sub, body)
