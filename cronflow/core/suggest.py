"""The "did you mean" hint, one phrasing for every unknown name cronflow refuses.

Job files, ``cronflow.toml``, plugin configs, plugin names and hook names all point a
mistyped word at its closest known spelling the same way, so a user (or a script matching
messages) learns one form: ``unknown key 'comand' (did you mean 'command'?)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's own default: close enough to catch a typo, far enough not to guess wildly
_CUTOFF = 0.6


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``word``, or None when none is close enough."""
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=_CUTOFF)
    return match[0] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``word``, else ``""``."""
    match = closest(word, choices)
    return f" (did you mean {match!r}?)" if match is not None else ""
