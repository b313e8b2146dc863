"""Jenkins' ``H`` form in cron fields, resolved into a plain cron expression.

``H`` stands for a value derived from a key (the job's name), so that many jobs written
``H * * * *`` spread over the hour instead of all starting at :00, and each keeps its
minute across restarts (SPEC section 13). Forms, per field: ``H``, ``H(A-B)``, ``H/N``,
``H(A-B)/N``. croniter's hash expander draws the values (the same CRC-based draw Jenkins
users get from croniter elsewhere); the result is an ordinary expression for cronflow's
own cron engine, which owns next-fire and DST. ``H`` in the day of month draws from 1-28,
as in Jenkins, so that the job fires in every month.
"""

from __future__ import annotations

import re
from typing import Any

from cronflow.errors import ScheduleError

# croniter's field positions: minute, hour, day of month, month, day of week; seconds last
_MINUTE, _HOUR, _DOM, _MONTH, _DOW, _SECOND = range(6)
_FIVE = (_MINUTE, _HOUR, _DOM, _MONTH, _DOW)
# our six-field form puts seconds first (SPEC section 5)
_SIX = (_SECOND, *_FIVE)
_DOM_HASH_END = 28
_HASH_FIELD = re.compile(r"H(?:\((\d+)-(\d+)\))?(?:/(\d+))?")


def _is_hash_field(field: str) -> bool:
    return _HASH_FIELD.fullmatch(field) is not None


def has_hash(expr: str) -> bool:
    """Whether ``expr`` is a 5- or 6-field cron expression with an ``H`` field."""
    if "H" not in expr:  # the common case, without splitting (every file's schedule comes here)
        return False
    fields = expr.split()
    return len(fields) in (5, 6) and any(_is_hash_field(field) for field in fields)


def resolve_hashed(expr: str, key: str) -> str:
    """``expr`` with each ``H`` field replaced by the values drawn for ``key``; any other
    expression unchanged. ScheduleError for a malformed ``H`` field."""
    if not has_hash(expr):
        return expr
    # croniter costs ~40 ms to import: only expressions with an H pay for it
    from croniter import croniter
    from croniter.croniter import HashExpander

    fields = expr.split()
    positions = _FIVE if len(fields) == 5 else _SIX
    expander = HashExpander(croniter)
    hash_id = key.encode("utf-8")
    resolved = []
    for field, index in zip(fields, positions, strict=True):
        if field.startswith("H") and not _is_hash_field(field):
            raise ScheduleError(f"invalid hash field {field!r} in {expr!r}; write H, H(A-B), H/N or H(A-B)/N")
        resolved.append(_resolve_field(expander, field, index, hash_id, expr) if _is_hash_field(field) else field)
    return " ".join(resolved)


def _resolve_field(expander: Any, field: str, index: int, hash_id: bytes, expr: str) -> str:
    match = _HASH_FIELD.fullmatch(field)
    assert match is not None
    begin, end, step = match.groups()
    if index == _DOM and begin is None:
        # Jenkins' rule: a drawn day exists in every month
        field = f"H(1-{_DOM_HASH_END})" + (f"/{step}" if step else "")
    from croniter import CroniterBadCronError

    try:
        return str(expander.expand(expr, index, field.lower(), hash_id=hash_id))
    except CroniterBadCronError as exc:
        # croniter speaks of the lowered field; name it as the user wrote it
        reason = str(exc).replace(f"[{field.lower()}]", field).replace(field.lower(), field)
        raise ScheduleError(f"invalid hash field {field!r} in {expr!r}: {reason}") from None
