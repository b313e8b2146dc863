"""Step outputs (functional core): ``key=value`` lines a step writes to ``$CRONFLOW_OUTPUT``.

A step passes small values to the steps that need it: each line ``key=value`` of its
output file becomes ``CRONFLOW_OUT_<STEP>_<KEY>`` in their environment, and
``foreach = "outputs.STEP.KEY"`` can fan out over it. Outputs are small by design: the
file is read up to :data:`OUTPUT_CAP` bytes and the rest is ignored (with a warning), so a
step cannot blow up its dependants' environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

OUTPUT_CAP = 64 * 1024
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_UNSAFE_ENV = re.compile(r"[^A-Z0-9_]")


def parse_outputs(data: bytes, *, cap: int = OUTPUT_CAP) -> tuple[dict[str, str], list[str]]:
    """The outputs in ``data`` and warnings about what was ignored.

    Lines are ``key=value`` (value taken verbatim up to the end of the line; a trailing
    ``\\r`` is dropped); blank lines and ``#`` comments are skipped; a later line wins
    over an earlier one with the same key. Keys are letters, digits, ``_`` and ``-``.
    Beyond ``cap`` bytes the data is cut at the last complete line.
    """
    warnings: list[str] = []
    if len(data) > cap:
        cut = data.rfind(b"\n", 0, cap + 1)
        data = data[: cut + 1] if cut >= 0 else b""
        warnings.append(f"output larger than {cap} bytes: the rest was ignored")
    text = data.decode("utf-8", errors="replace")
    values: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            warnings.append(f"line {number}: expected key=value, got {line[:60]!r}")
            continue
        values[key] = value
    return values, warnings


def env_name(step: str, key: str) -> str:
    """``CRONFLOW_OUT_<STEP>_<KEY>``: upper case, anything but letters, digits and ``_``
    (a ``-`` or ``.`` in a step name) becomes ``_``."""
    return "CRONFLOW_OUT_" + _UNSAFE_ENV.sub("_", f"{step}_{key}".upper())


def output_env(outputs: Mapping[str, Mapping[str, str]], steps: Sequence[str]) -> dict[str, str]:
    """The environment a step gets from the outputs of ``steps`` (those it needs)."""
    env: dict[str, str] = {}
    for step in steps:
        for key, value in outputs.get(step, {}).items():
            env[env_name(step, key)] = value
    return env


def merge_outputs(parts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The outputs of a fan-out step: its items' outputs, later items winning."""
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part)
    return merged


def split_items(value: str) -> tuple[str, ...]:
    """A list given as text: a JSON array (``["a", "b"]``) or comma separated
    (``a,b``); items are stripped and empty ones dropped. ValueError for a JSON value
    that is not an array of scalars."""
    text = value.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON array: {exc.msg}") from None
        if not isinstance(decoded, list) or any(isinstance(x, (list, dict)) or x is None for x in decoded):
            raise ValueError("expected a JSON array of strings or numbers")
        items = [x if isinstance(x, str) else json.dumps(x) for x in decoded]
    else:
        items = text.split(",")
    return tuple(item.strip() for item in items if item.strip())
