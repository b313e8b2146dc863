"""The definition hash (SPEC 12): SHA-256 of the file's bytes, first 12 hex digits."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from cronflow.core.definition.digest import file_hash, with_text
from cronflow.core.definition.job import parse_definition

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_hash_is_the_first_12_hex_digits_of_the_sha256_of_the_bytes() -> None:
    text = 'command = "echo café"\n'
    assert file_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def test_a_comment_is_a_new_definition_but_the_same_meaning() -> None:
    before, after = 'command = "true"\n', '# why\ncommand = "true"\n'
    a = with_text(parse_definition("x.toml", before, now=NOW, default_timezone="UTC"), before)
    b = with_text(parse_definition("x.toml", after, now=NOW, default_timezone="UTC"), after)
    assert a.file_hash != b.file_hash and a.file_text == before
    # hash and text take no part in equality: the daemon reinstalls nothing for a comment
    assert a == b
