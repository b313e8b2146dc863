"""The pure run lifecycle (core/lifecycle.py) and the state rules on RunState."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cronflow.core import lifecycle
from cronflow.model import Run, RunState, SkipReason

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=5)

FAILURES = {RunState.FAILED, RunState.TIMED_OUT, RunState.LOST}
OKS = {RunState.SUCCEEDED, RunState.WARNING}


def queued(**kw: object) -> Run:
    fields = dict(run_id="r1", job="j", nominal=NOW, trigger="manual", params={"a": "1"}, log_path="/l/r1.log")
    fields.update(kw)
    return lifecycle.queued(**fields)  # type: ignore[arg-type]


# --- the rules on RunState -------------------------------------------------------------------


@pytest.mark.parametrize("state", list(RunState))
def test_each_state_formats_as_its_value(state: RunState) -> None:
    assert f"{state}" == state.value and str(state) == state.value


@pytest.mark.parametrize("state", list(RunState))
def test_the_rules_of_each_state(state: RunState) -> None:
    assert state.terminal is (state not in (RunState.QUEUED, RunState.RUNNING, RunState.RETRYING))
    assert state.ok is (state in OKS)
    assert state.failure is (state in FAILURES)
    assert not (state.ok and state.failure)
    assert state.outcome is (state.terminal and state not in (RunState.SKIPPED, RunState.NOT_RUN))


@pytest.mark.parametrize("previous", [*RunState, None])
@pytest.mark.parametrize("state", list(RunState))
def test_a_recovery_is_a_success_right_after_a_failure(state: RunState, previous: RunState | None) -> None:
    assert state.recovers(previous) is (state in OKS and previous in FAILURES)


def test_lost_counts_as_a_failure_and_a_success_after_it_recovers() -> None:
    assert RunState.LOST.failure
    assert RunState.SUCCEEDED.recovers(RunState.LOST)
    assert not RunState.SUCCEEDED.recovers(RunState.CANCELLED)


def test_matching_keeps_declaration_order() -> None:
    assert RunState.matching(lambda s: s.failure) == (RunState.FAILED, RunState.TIMED_OUT, RunState.LOST)
    assert RunState.matching(lambda s: not s.terminal) == (RunState.QUEUED, RunState.RUNNING, RunState.RETRYING)


def test_retrying_is_still_going_neither_an_outcome_nor_a_failure() -> None:
    # a run waiting for its next attempt has not ended: it counts for overlap and
    # `running`, can be cancelled, and reaches no finish hook or notification yet
    state = RunState.RETRYING
    assert (state.terminal, state.outcome, state.ok, state.failure) == (False, False, False, False)
    assert not state.recovers(RunState.FAILED) and not RunState.SUCCEEDED.recovers(state)


# --- queued -> running -> final --------------------------------------------------------------


def test_queued_is_a_job_run_or_a_step() -> None:
    run = queued()
    assert (run.state, run.kind, run.attempt, run.params, run.started) == (RunState.QUEUED, "job", 1, {"a": "1"}, None)
    step = queued(parent_id="f1", step="s", item="x")
    assert (step.kind, step.parent_id, step.step, step.item) == ("step", "f1", "s", "x")


def test_skip_drops_the_log_and_ends_now() -> None:
    run = lifecycle.skip(queued(), NOW)
    assert (run.state, run.reason, run.log_path, run.ended) == (RunState.SKIPPED, "overlap", None, NOW)
    assert lifecycle.skip(queued(), NOW, SkipReason.PAUSED).reason == "paused"


def test_start_keeps_the_first_attempts_start() -> None:
    run = lifecycle.start(queued(), NOW, 42)
    assert (run.state, run.pid, run.started, run.reason) == (RunState.RUNNING, 42, NOW, None)
    again = lifecycle.start(lifecycle.attempt(run, 2), LATER, 43)
    assert (again.attempt, again.pid, again.started) == (2, 43, NOW)


def test_spawn_failure_is_a_failed_run_with_exit_127() -> None:
    run = lifecycle.spawn_failed(queued(), NOW, LATER)
    assert (run.state, run.reason, run.exit_code, run.started, run.ended, run.pid) == (
        RunState.FAILED, "spawn", 127, NOW, LATER, None)


@pytest.mark.parametrize(("code", "timed_out", "cancelled", "state", "reason"), [
    (0, False, False, RunState.SUCCEEDED, None),
    (3, False, False, RunState.FAILED, None),
    (-15, False, False, RunState.FAILED, None),
    (-15, True, False, RunState.TIMED_OUT, "timeout"),
    (0, True, False, RunState.TIMED_OUT, "timeout"),
    (-15, False, True, RunState.CANCELLED, "cancelled"),
    (-15, True, True, RunState.CANCELLED, "cancelled"),
])
def test_finish(code: int, timed_out: bool, cancelled: bool, state: RunState, reason: str | None) -> None:
    run = lifecycle.finish(lifecycle.start(queued(), NOW, 7), LATER, exit_code=code, timed_out=timed_out,
                           cancelled=cancelled)
    assert (run.state, run.reason, run.exit_code, run.ended, run.started) == (state, reason, code, LATER, NOW)


@pytest.mark.parametrize("state", list(RunState))
@pytest.mark.parametrize("stopping", [False, True])
def test_only_a_failure_is_retried_and_never_while_stopping(state: RunState, stopping: bool) -> None:
    run = Run(id="r", job="j", state=state)
    assert lifecycle.retryable(run, stopping=stopping) is (state in FAILURES and not stopping)


def failed_attempt(code: int = 1, **kw: object) -> Run:
    return lifecycle.finish(lifecycle.start(queued(), NOW, 7), LATER, exit_code=code, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ended", "reason"), [
    (failed_attempt(1), "attempt 1 failed"),
    (failed_attempt(-15, timed_out=True), "attempt 1 timed_out"),
    (lifecycle.spawn_failed(queued(), NOW, LATER), "attempt 1 failed"),
])
def test_retrying_waits_for_the_next_attempt_without_an_end_or_a_process(ended: Run, reason: str) -> None:
    due = LATER + timedelta(seconds=30)
    run = lifecycle.retrying(ended, LATER, due)
    assert (run.state, run.next_attempt, run.ended, run.pid, run.reason) == (RunState.RETRYING, due, None, None,
                                                                             reason)
    # what the attempt ended with stays readable until the next one starts
    assert (run.exit_code, run.started, run.attempt) == (ended.exit_code, NOW, 1)


def test_retrying_never_names_a_next_attempt_before_now() -> None:
    assert lifecycle.retrying(failed_attempt(), LATER, NOW).next_attempt == LATER


@pytest.mark.parametrize("state", [s for s in RunState if s not in FAILURES])
def test_only_a_failed_attempt_waits_to_retry(state: RunState) -> None:
    with pytest.raises(ValueError, match=f"a {state.value} attempt is not retried"):
        lifecycle.retrying(Run(id="r", job="j", state=state), NOW, LATER)


def test_the_next_attempts_start_clears_the_wait_and_what_the_last_attempt_left() -> None:
    waiting = lifecycle.retrying(failed_attempt(), LATER, LATER + timedelta(seconds=3))
    later = LATER + timedelta(seconds=3)
    run = lifecycle.start(lifecycle.attempt(waiting, 2), later, 8)
    assert (run.state, run.attempt, run.pid, run.next_attempt, run.ended, run.exit_code, run.reason) == (
        RunState.RUNNING, 2, 8, None, None, None, None)
    assert run.started == NOW  # the run started with its first attempt


@pytest.mark.parametrize("end", [lambda run: lifecycle.cancel(run, LATER), lambda run: lifecycle.interrupt(run, LATER),
                                 lambda run: lifecycle.lose(run, LATER, "gone")])
def test_a_retry_wait_that_ends_leaves_no_next_attempt(end: object) -> None:
    waiting = lifecycle.retrying(failed_attempt(), LATER, LATER + timedelta(seconds=30))
    run = end(waiting)  # type: ignore[operator]
    assert run.state.terminal and run.next_attempt is None and run.ended == LATER


def test_cancel_and_interrupt() -> None:
    run = lifecycle.start(queued(), NOW, 1)
    assert (lifecycle.cancel(run, LATER).state, lifecycle.cancel(run, LATER).reason) == (RunState.CANCELLED, "cancelled")
    gone = lifecycle.interrupt(run, LATER)
    assert (gone.state, gone.reason, gone.ended) == (RunState.CANCELLED, "interrupted", LATER)


# --- what a final run notifies ---------------------------------------------------------------


@pytest.mark.parametrize("previous", [*RunState, None])
@pytest.mark.parametrize("state", [s for s in RunState if s.terminal])
def test_outcome_events(state: RunState, previous: RunState | None) -> None:
    events = lifecycle.outcome_events(Run(id="r", job="j", state=state), previous)
    if state in OKS:
        assert events == (("success", "recovered") if previous in FAILURES else ("success",))
    elif state in FAILURES:
        assert events == ("failure",)
    else:
        assert events == ()


def test_a_lost_run_is_a_failure_that_notifies_failure() -> None:
    run = lifecycle.lose(lifecycle.start(queued(), NOW, 7), LATER, "process gone while the daemon was down")
    assert (run.state, run.reason, run.ended, run.started) == (RunState.LOST, "process gone while the daemon was down",
                                                               LATER, NOW)
    assert lifecycle.outcome_events(run, None) == ("failure",)


@pytest.mark.parametrize("reason", [SkipReason.OVERLAP, SkipReason.PAUSED, "removed"])
def test_skip_takes_a_reason_or_a_word(reason: SkipReason | str) -> None:
    run = lifecycle.skip(queued(), NOW, reason)
    assert (run.state, run.reason, run.log_path, run.ended) == (RunState.SKIPPED, getattr(reason, "value", reason),
                                                                None, NOW)
    assert lifecycle.outcome_events(run, RunState.FAILED) == ()


@pytest.mark.parametrize(("kind", "hook"), [("job", ("on_run_finish", "run")), ("step", ("on_run_finish", "run")),
                                            ("flow", ("on_flow_finish", "flow_run"))])
@pytest.mark.parametrize("state", [s for s in RunState if s.terminal])
def test_every_final_run_has_its_hook_whatever_its_state(kind: str, hook: tuple[str, str], state: RunState) -> None:
    assert lifecycle.finish_hook(Run(id="r", job="j", kind=kind, state=state)) == hook
