"""Human-readable text for the CLI: instants, "due in" spans, aligned tables (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo


def format_offset(instant: datetime) -> str:
    """The UTC offset of an aware datetime as ``+02:00`` / ``+05:45`` / ``-03:00``."""
    offset = instant.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def format_instant(instant: datetime, zone: tzinfo) -> str:
    """``Mon 2026-03-30 02:30:00 CEST  (2026-03-30 00:30:00 UTC, +02:00)``."""
    local = instant.astimezone(zone)
    utc = instant.astimezone(timezone.utc)
    frac = f".{local.microsecond:06d}".rstrip("0") if local.microsecond else ""
    abbrev = local.tzname() or format_offset(local)
    return (f"{local:%a %Y-%m-%d %H:%M:%S}{frac} {abbrev}  "
            f"({utc:%Y-%m-%d %H:%M:%S}{frac} UTC, {format_offset(local)})")


def format_span(seconds: float) -> str:
    """A coarse span for people: the two largest units, ``45s``, ``3h12m``, ``2d4h``."""
    total = int(round(seconds))
    if total <= 0:
        return "now"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count or parts:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    # "3h0m" reads as noise
    return "".join(p for p in parts if not p.startswith("0")) or parts[0]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
