"""Built-in retry policies ``fixed``, ``linear`` and ``exponential``.

Keys of the ``[retry]`` table they read (``policy`` and ``attempts`` belong to cronflow):

* ``delay`` (duration, default ``"30s"``): the base wait.
* ``max_delay`` (duration): caps the base wait; default none for ``fixed`` and
  ``linear``, ``"1h"`` for ``exponential`` (so a long retry series stays sensible).
* ``factor`` (``exponential`` only, number >= 1, default 2).
* ``jitter``: a duration (``"5s"``: add 0 to 5 s) or a fraction of the wait (``0.2`` or
  ``"20%"``: add 0 to 20 %). Jitter is only ever added, after the ``max_delay`` cap,
  so retries of many jobs that all reached the cap still spread out. It is
  deterministic: drawn from a hash of the run id (``config["run_id"]``, which cronflow
  supplies) and the attempt number, so a retried run's waits are reproducible and
  testable while different runs get different waits.

Waits after attempt ``n`` (1-based) failed: fixed ``delay``; linear ``delay * n``;
exponential ``delay * factor ** (n - 1)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cronflow.core.suggest import did_you_mean
from cronflow.durations import duration_key, parse_duration
from cronflow.errors import DurationError
from cronflow.hookspecs import Register, hookimpl

DEFAULT_DELAY = 30.0
DEFAULT_FACTOR = 2.0
EXPONENTIAL_MAX_DELAY = 3600.0

_COMMON_KEYS = frozenset({"policy", "attempts", "delay", "max_delay", "jitter", "run_id"})


@dataclass(frozen=True, slots=True)
class _Settings:
    delay: float
    max_delay: float | None
    factor: float
    jitter_seconds: float
    jitter_fraction: float


def _jitter(value: Any) -> tuple[float, float]:
    """(seconds, fraction) from a ``jitter`` value."""
    if isinstance(value, bool):
        raise ValueError(f"jitter: expected a duration such as \"5s\" or a fraction such as 0.2, got {value!r}")
    if isinstance(value, (int, float)):
        if not 0 <= value <= 1:
            raise ValueError(
                f"jitter: a number is a fraction of the wait (0 to 1), got {value!r}; "
                f"write \"{value}s\" for seconds"
            )
        return 0.0, float(value)
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            percent = float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"jitter: invalid percentage {value!r}") from None
        if not 0 <= percent <= 100:
            raise ValueError(f"jitter: percentage must be between 0% and 100%, got {value!r}")
        return 0.0, percent / 100
    try:
        return parse_duration(value), 0.0
    except DurationError as exc:
        raise ValueError(f"jitter: {exc}") from None


def _settings(config: Mapping[str, Any], *, exponential: bool) -> _Settings:
    allowed = _COMMON_KEYS | ({"factor"} if exponential else set())
    for key in config:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r}{did_you_mean(key, allowed - {'run_id'})}")
    factor = config.get("factor", DEFAULT_FACTOR)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 1:
        raise ValueError(f"factor: expected a number >= 1, got {factor!r}")
    seconds, fraction = _jitter(config["jitter"]) if "jitter" in config else (0.0, 0.0)
    return _Settings(
        delay=duration_key(config, "delay", DEFAULT_DELAY) or 0.0,
        max_delay=duration_key(config, "max_delay", EXPONENTIAL_MAX_DELAY if exponential else None),
        factor=float(factor),
        jitter_seconds=seconds,
        jitter_fraction=fraction,
    )


def _unit(seed: str, attempt: int) -> float:
    """A reproducible draw in [0, 1) for one (run, attempt)."""
    digest = hashlib.sha256(f"{seed}\0{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _finish(base: float, attempt: int, config: Mapping[str, Any], settings: _Settings) -> float:
    wait = base if settings.max_delay is None else min(base, settings.max_delay)
    if settings.jitter_seconds or settings.jitter_fraction:
        u = _unit(str(config.get("run_id", "")), attempt)
        wait += u * (settings.jitter_seconds + settings.jitter_fraction * wait)
    return wait


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be an integer >= 1, got {attempt!r}")


def fixed(attempt: int, config: Mapping[str, Any]) -> float:
    """The same wait, ``delay``, after every failed attempt."""
    _check_attempt(attempt)
    settings = _settings(config, exponential=False)
    return _finish(settings.delay, attempt, config, settings)


def linear(attempt: int, config: Mapping[str, Any]) -> float:
    """``delay * attempt``: 30 s, 60 s, 90 s... with the default delay."""
    _check_attempt(attempt)
    settings = _settings(config, exponential=False)
    return _finish(settings.delay * attempt, attempt, config, settings)


def exponential(attempt: int, config: Mapping[str, Any]) -> float:
    """``delay * factor ** (attempt - 1)``, capped by ``max_delay`` (default 1 h)."""
    _check_attempt(attempt)
    settings = _settings(config, exponential=True)
    try:
        base = settings.delay * settings.factor ** (attempt - 1)
    except OverflowError:
        base = math.inf
    return _finish(base, attempt, config, settings)


def _validator(exponential_keys: bool) -> Callable[[Mapping[str, Any]], None]:
    def validate(config: Mapping[str, Any]) -> None:
        _settings(config, exponential=exponential_keys)

    return validate


# `cronflow check` calls these (see the register_notifiers hook docs)
fixed.validate = _validator(False)  # type: ignore[attr-defined]
linear.validate = _validator(False)  # type: ignore[attr-defined]
exponential.validate = _validator(True)  # type: ignore[attr-defined]

POLICIES: dict[str, Callable[[int, Mapping[str, Any]], float]] = {
    "fixed": fixed,
    "linear": linear,
    "exponential": exponential,
}


@hookimpl
def register_retry_policies(register: Register) -> None:
    for name, policy in POLICIES.items():
        register(name, policy)
