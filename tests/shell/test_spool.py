"""Spool requests carry the time the caller passed in (shell/spool.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronflow.shell import spool


def test_a_request_keeps_the_time_its_caller_passed(tmp_path: Path) -> None:
    spool.submit(tmp_path, spool.Request(kind="pause", target="backup", requested=1_700_000_000.5,
                                         until="2024-05-01T03:00:00.000000+00:00"), now_ns=1)
    spool.submit(tmp_path, spool.Request(kind="resume", target="backup", requested=1_700_000_001.0), now_ns=2)
    found = spool.pending(tmp_path)
    assert [(r.kind, r.requested) for r in found if isinstance(r, spool.Request)] == [
        ("pause", 1_700_000_000.5), ("resume", 1_700_000_001.0)]


def test_a_request_has_no_hidden_clock_default() -> None:
    with pytest.raises(TypeError):
        spool.Request(kind="force", target="backup")  # type: ignore[call-arg]
