"""What jobs and flows share: the common keys, the name rule, the file stem."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cronflow.core.definition.fields import Checker
from cronflow.core.definition.tomllines import TopLines
from cronflow.errors import ConfigError
from cronflow.model import Catchup, Overlap

# keys shared by jobs and flows
COMMON_KEYS = (
    "name", "description", "schedule", "timezone", "enabled", "tags", "timeout", "workdir",
    "overlap", "catchup", "catchup_window", "misfire_grace", "jitter", "env", "params",
    "notify", "trigger",
)
# the one empty map of every definition without [env], [params], limits: 100,000 files
# would otherwise hold 100,000 empty dicts each (definitions are frozen: nothing writes in)
NO_ENTRIES: Mapping[str, Any] = {}
# what a job or flow name may be (also what `cronflow next` takes for a name)
JOB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+-]*\Z")

def definition_name(checker: Checker, data: Mapping[str, Any], path: str) -> str:
    """The ``name`` key, or the file stem; checked to be usable in lock and log names."""
    if "name" in data:
        name = checker.string(data, "name", (), non_empty=True)
        if name is not None and not JOB_NAME.match(name):
            checker.error(("name",), f"name {name!r} may only contain letters, digits and "
                          "'_.@+-', and must not start with a punctuation mark")
        return name or file_stem(path)
    stem = file_stem(path)
    if not JOB_NAME.match(stem):
        checker.errors.append(ConfigError(
            path, None, f"the file name gives the job name {stem!r}, which may only contain "
            "letters, digits and '_.@+-'; rename the file or set name = \"...\""))
    return stem


def key_lines(checker: Checker, data: Mapping[str, Any]) -> TopLines:
    """Line of each top-level key, kept on the definition for errors found later."""
    return TopLines(data, checker.lines)


def common_fields(checker: Checker, data: Mapping[str, Any], *, now: datetime,
                  default_timezone: str, name: str | None = None) -> dict[str, Any]:
    """The keys jobs and flows share, as keyword arguments of Job/Flow; ``name`` keys
    the ``H`` fields of the schedule."""
    where = ()
    timezone, zone_ok = checker.timezone(data, where)
    # a wrong zone must not hide a wrong schedule: whether an expression parses does not
    # depend on the zone, so it is checked in UTC then
    zone = (timezone or default_timezone) if zone_ok else "UTC"
    fields: dict[str, Any] = {
        "description": checker.string(data, "description", where, "") or "",
        "schedule": checker.schedules(data, where, zone=zone, now=now, hash_key=name),
        "timezone": timezone,
        "enabled": checker.boolean(data, "enabled", where, True),
        "tags": checker.string_list(data, "tags", where),
        "timeout": checker.duration(data, "timeout", where, positive=True),
        "workdir": checker.string(data, "workdir", where, non_empty=True),
        "overlap": checker.enum(data, "overlap", where, Overlap, Overlap.SKIP),
        "catchup": checker.enum(data, "catchup", where, Catchup, Catchup.LATEST),
        "catchup_window": checker.duration(data, "catchup_window", where, positive=True),
        "misfire_grace": checker.duration(data, "misfire_grace", where),
        "jitter": checker.duration(data, "jitter", where, 0.0) or 0.0,
        "env": checker.text_map(data, "env", where, identifiers=False) or NO_ENTRIES,
        "params": checker.text_map(data, "params", where, identifiers=True, lists=True) or NO_ENTRIES,
        "notify": checker.notify(data, where),
        "triggers": checker.triggers(data, where),
    }
    return fields


def file_stem(path: str) -> str:
    """A job file's name without directory and ``.toml``: the job's name when it sets none."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-5] if base.endswith(".toml") else base
