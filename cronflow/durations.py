"""Durations as written in job files ("90s", "15m", "1h30m", "2d") <-> seconds, and sizes
("10MB", "2G") -> bytes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from cronflow.errors import CronflowError, DurationError

# float in, float out; None in (no default), float | None out
D = TypeVar("D", bound="float | None")

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_ORDER = ("w", "d", "h", "m", "s", "ms")


def parse_duration(value: str | int | float) -> float:
    """Return the seconds in ``value``.

    Strings are one or more ``<number><unit>`` parts, units largest first, each unit at
    most once: ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, ``"1.5h"``, ``"250ms"``.
    A bare number (TOML integer or float) is seconds. Negative values are refused.
    """
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as \"90s\" or \"1h30m\", got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise DurationError(f"duration must not be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise DurationError(f"expected a duration such as \"90s\" or \"1h30m\", got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise DurationError("empty duration; write e.g. \"90s\", \"15m\" or \"1h30m\"")
    pos = 0
    total = 0.0
    last_rank = -1
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        unit = match.group(2)
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise DurationError(
                f"invalid duration {value!r}: units must appear once each, largest first"
            )
        last_rank = rank
        total += float(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise DurationError(
            f"invalid duration {value!r}; write e.g. \"90s\", \"15m\", \"2h\", \"1d\" or \"1h30m\""
        )
    return total


def duration_key(config: Mapping[str, Any], key: str, default: D, *, lenient: bool = False) -> float | D:
    """The seconds of the duration-valued ``config[key]``, or ``default`` when it is absent.

    A value that does not parse is a ``ValueError`` naming the key (``delay: invalid
    duration ...``, as job files word it), the form a plugin's ``validate`` reports.
    ``lenient`` makes it ``default`` instead, for a caller that only takes a hint from a
    table it does not own (another plugin may give the key its own meaning).
    """
    if key not in config:
        return default
    try:
        return parse_duration(config[key])
    except DurationError as exc:
        if lenient:
            return default
        raise ValueError(f"{key}: {exc}") from None


def format_duration(seconds: float) -> str:
    """The shortest canonical spelling: 5400 -> "1h30m", 0.25 -> "250ms", 0 -> "0s"."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    frac = seconds - whole
    parts: list[str] = []
    for unit in ("d", "h", "m"):
        size = int(_UNITS[unit])
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if whole or frac:
        secs = whole + frac
        parts.append(f"{secs:g}s" if frac else f"{whole}s")
    return "".join(parts)


# systemd's sizes: powers of 1024, the unit's "B" and "i" optional
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(value: object) -> int:
    """Bytes in ``value``: an integer, or ``"10MB"`` / ``"512K"`` / ``"1GiB"`` (powers of 1024)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CronflowError(f"expected a size such as \"10MB\", got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise CronflowError(f"size must not be negative, got {value!r}")
        return value
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise CronflowError(f"invalid size {value!r}; write e.g. \"10MB\", \"512K\" or \"1G\"")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
