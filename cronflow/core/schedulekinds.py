"""Schedule kinds that plugins add (``register_schedules``, SPEC section 17): the
``PREFIX:...`` and ``PREFIX(ARGS):...`` forms, e.g. ``workdays(FR):09:00``.

The core stays free of plugins: a host (the daemon, a command line) installs a
*provider* here, a function that returns the kinds of its plugins when first asked. It is
called only when an expression has that form and is no built-in one, so parsing
``0 9 * * *`` never loads a plugin. Without a provider no plugin kind is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# ``workdays:09:00``, ``workdays(FR):09:00``: a lowercase word, optional arguments, a colon
PREFIX = re.compile(r"([a-z][a-z0-9_-]*)(?:\([^()]*\))?:")

Parse = Callable[[str, Any], Any]  # (text, zone) -> Schedule


@dataclass(frozen=True, slots=True)
class Kinds:
    """The plugin schedule kinds by prefix: ``parsers`` (prefix -> (parse, plugin
    name)) and ``refused`` (prefix -> why: two plugins registered it)."""

    parsers: Mapping[str, tuple[Parse, str]] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)


# (provider, its answer once asked): one tuple, swapped whole, so that a reader on
# another thread sees an answer only with the provider that gave it (no lock: the core
# imports no threading)
_state: tuple[Callable[[], Kinds] | None, Kinds | None] = (None, None)


def set_provider(provider: Callable[[], Kinds] | None) -> None:
    """Install the host's provider (None: no plugin kinds); it is asked again at the
    next use, so a host that reloaded its plugins installs the new one here."""
    global _state
    _state = (provider, None)


def current() -> Kinds:
    """The kinds of the host's plugins (asked of the provider once)."""
    global _state
    provider, kinds = _state
    if kinds is not None:
        return kinds
    kinds = provider() if provider is not None else Kinds()
    if _state[0] is provider:
        _state = (provider, kinds)
    return kinds


def prefix_of(text: str) -> str | None:
    """The plugin kind prefix ``text`` is written with, or None."""
    match = PREFIX.match(text)
    return match.group(1) if match else None
