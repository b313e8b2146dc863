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
    # the two largest units from the first that is not zero; a zero second one is noise
    # ("3h0m" reads "3h"); spelled out, as ``list`` calls this twice a row
    if total < 60:
        return f"{total}s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    if total < 86400:
        hours, rest = divmod(total, 3600)
        minutes = rest // 60
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, rest = divmod(total, 86400)
    hours = rest // 3600
    return f"{days}d{hours}h" if hours else f"{days}d"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [len(h) for h in headers]
    if rows and all(len(row) == len(widths) for row in rows):
        # 100,000 rows of ``list``: the widths column by column and each line by one
        # printf-style format, every step a C loop
        widths = [max(width, max(map(len, column))) for width, column in zip(widths, zip(*rows))]
        line = "  ".join(f"%-{width}s" for width in widths)
        return "\n".join(map(str.rstrip, map(line.__mod__, map(tuple, [headers, *rows]))))
    for row in rows:
        for index, cell in enumerate(row):
            if len(cell) > widths[index]:
                widths[index] = len(cell)
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    return "\n".join(line.format(*row).rstrip() for row in [list(headers), *rows])
