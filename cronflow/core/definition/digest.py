"""Which definition a run ran (SPEC 12): a job or flow file's text and its hash.

Every run records ``definition``, the SHA-256 of its file's bytes cut to 12 hex digits
(:func:`file_hash`); the text itself is kept in the state database once per hash, so that
``cronflow show RUN_ID --definition`` prints what ran after the file changed. The hash is
of the bytes, so an edit that changes nothing but a comment is a new definition too.
"""

from __future__ import annotations

import hashlib

from cronflow.model import Definition, replace

HASH_DIGITS = 12


def file_hash(text: str) -> str:
    """The definition hash of a file whose UTF-8 text is ``text`` (its bytes, decoded
    strictly, so encoding them again gives the same bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]


def with_text(definition: Definition, text: str) -> Definition:
    """``definition`` carrying the text it was parsed from and that text's hash."""
    return replace(definition, file_hash=file_hash(text), file_text=text)
