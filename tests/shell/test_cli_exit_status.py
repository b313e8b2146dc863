"""The one mapping from a run's end state to the CLI's exit status (cli/common.py)."""

from __future__ import annotations

import pytest

from cronflow.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_TIMED_OUT, exit_status
from cronflow.model import RunState as S


@pytest.mark.parametrize(("state", "exit_code", "status"), [
    (S.SUCCEEDED, 0, 0),
    (S.WARNING, None, 0),
    (S.TIMED_OUT, -15, EXIT_TIMED_OUT),
    (S.CANCELLED, None, EXIT_CANCELLED),
    (S.FAILED, 3, 3),
    (S.FAILED, -9, 137),
    (S.FAILED, 0, EXIT_FAILED),
    (S.FAILED, None, EXIT_FAILED),
    (S.LOST, None, EXIT_FAILED),
])
def test_exit_status_of_an_end_state(state, exit_code, status):
    assert exit_status(state, exit_code) == status
