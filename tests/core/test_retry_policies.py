"""The built-in retry policies and cronflow's enforcement around them (pure)."""

from __future__ import annotations

import logging

import pytest

from cronflow.builtin import retry
from cronflow.model import RetrySpec
from cronflow.plugins import Registered, Registry, retry_delay


@pytest.mark.parametrize(
    ("policy", "config", "waits"),
    [
        ("fixed", {}, [30.0, 30.0, 30.0, 30.0]),
        ("fixed", {"delay": "10s"}, [10.0, 10.0, 10.0, 10.0]),
        ("fixed", {"delay": "1m", "max_delay": "45s"}, [45.0, 45.0, 45.0, 45.0]),
        ("linear", {"delay": "10s"}, [10.0, 20.0, 30.0, 40.0]),
        ("linear", {"delay": 5, "max_delay": "12s"}, [5.0, 10.0, 12.0, 12.0]),
        ("exponential", {"delay": "1s"}, [1.0, 2.0, 4.0, 8.0]),
        ("exponential", {"delay": "1s", "factor": 3}, [1.0, 3.0, 9.0, 27.0]),
        ("exponential", {"delay": "10s", "max_delay": "30s"}, [10.0, 20.0, 30.0, 30.0]),
        ("exponential", {"delay": "1s", "factor": 1.5}, [1.0, 1.5, 2.25, 3.375]),
    ],
)
def test_policy_waits_for_attempts_one_to_four(policy: str, config: dict, waits: list[float]) -> None:
    assert [retry.POLICIES[policy](n, config) for n in (1, 2, 3, 4)] == waits


def test_exponential_default_cap_is_one_hour_even_for_huge_attempts() -> None:
    assert retry.exponential(12, {"delay": "30s"}) == 3600.0
    assert retry.exponential(5000, {"delay": "30s", "factor": 10}) == 3600.0


def test_policy_keys_policy_and_attempts_are_cronflows_and_accepted() -> None:
    assert retry.fixed(1, {"policy": "fixed", "attempts": 3, "delay": "2s"}) == 2.0


@pytest.mark.parametrize("policy", ["fixed", "linear", "exponential"])
def test_jitter_duration_adds_between_zero_and_the_jitter(policy: str) -> None:
    base = retry.POLICIES[policy](2, {"delay": "10s"})
    waits = {retry.POLICIES[policy](2, {"delay": "10s", "jitter": "5s", "run_id": f"r{i}"}) for i in range(50)}
    assert all(base <= wait <= base + 5 for wait in waits)
    assert len(waits) > 40  # different runs spread out


def test_jitter_is_deterministic_per_run_and_attempt() -> None:
    config = {"delay": "10s", "jitter": "5s", "run_id": "backup@2024-01-01T03:00:00Z"}
    assert retry.fixed(1, config) == retry.fixed(1, dict(config))
    assert retry.fixed(1, config) != retry.fixed(2, config)


@pytest.mark.parametrize("jitter", [0.5, "50%"])
def test_jitter_fraction_scales_with_the_capped_wait(jitter: object) -> None:
    config = {"delay": "100s", "max_delay": "200s", "jitter": jitter, "run_id": "x"}
    waits = [retry.exponential(n, config) for n in range(1, 8)]
    assert 100 <= waits[0] <= 150
    assert all(200 <= wait <= 300 for wait in waits[2:])


def test_no_jitter_means_no_run_id_dependence() -> None:
    assert retry.linear(3, {"run_id": "a"}) == retry.linear(3, {"run_id": "b"}) == 90.0


@pytest.mark.parametrize(
    ("policy", "config", "message"),
    [
        ("fixed", {"delya": "1s"}, "unknown key 'delya' (did you mean 'delay'?)"),
        ("fixed", {"factor": 2}, "unknown key 'factor'"),
        ("linear", {"delay": "soon"}, "delay: invalid duration 'soon'"),
        ("exponential", {"factor": 0.5}, "factor: expected a number >= 1"),
        ("exponential", {"max_delay": -1}, "max_delay: duration must not be negative"),
        ("fixed", {"jitter": 3}, "jitter: a number is a fraction of the wait (0 to 1)"),
        ("fixed", {"jitter": "150%"}, "jitter: percentage must be between 0% and 100%"),
        ("fixed", {"jitter": True}, "jitter: expected a duration"),
    ],
)
def test_invalid_config_is_a_one_line_value_error(policy: str, config: dict, message: str) -> None:
    func = retry.POLICIES[policy]
    with pytest.raises(ValueError) as info:
        func.validate(config)  # type: ignore[attr-defined]
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError):
        func(1, config)


def test_attempt_must_be_one_based() -> None:
    with pytest.raises(ValueError, match="attempt must be an integer >= 1"):
        retry.fixed(0, {})


# --- cronflow.plugins.retry_delay: attempts enforced, misbehaving policies contained ----


def _registry(**policies: object) -> Registry:
    return Registry(retry_policies={n: Registered(n, obj, "test-plugin") for n, obj in policies.items()})


def test_retry_delay_enforces_attempts_and_never_asks_about_the_last() -> None:
    asked: list[int] = []

    def policy(attempt: int, config: dict) -> float:
        asked.append(attempt)
        return 1.0

    registry = _registry(p=policy)
    spec = RetrySpec(policy="p", attempts=3)
    log = logging.getLogger("test")
    assert [retry_delay(registry, spec, n, log) for n in (1, 2, 3, 4)] == [1.0, 1.0, None, None]
    assert asked == [1, 2]


def test_retry_delay_passes_the_table_and_run_id() -> None:
    seen: list[dict] = []
    registry = _registry(p=lambda attempt, config: seen.append(config) or 0)
    spec = RetrySpec(policy="p", attempts=2, config={"policy": "p", "attempts": 2, "delay": "1s"})
    assert retry_delay(registry, spec, 1, logging.getLogger("test"), run_id="r1") == 0.0
    assert seen == [{"policy": "p", "attempts": 2, "delay": "1s", "run_id": "r1"}]


@pytest.mark.parametrize("result", [-1, float("nan"), float("inf"), "5", True, [1]])
def test_retry_delay_refuses_bad_results(result: object, caplog: pytest.LogCaptureFixture) -> None:
    registry = _registry(p=lambda attempt, config: result)
    assert retry_delay(registry, RetrySpec(policy="p", attempts=5), 1, logging.getLogger("test")) is None
    assert "plugin test-plugin: retry policy 'p' returned" in caplog.text


def test_retry_delay_contains_a_raising_policy(caplog: pytest.LogCaptureFixture) -> None:
    def policy(attempt: int, config: dict) -> float:
        raise ZeroDivisionError("boom")

    registry = _registry(p=policy)
    assert retry_delay(registry, RetrySpec(policy="p", attempts=5), 1, logging.getLogger("test")) is None
    assert "plugin test-plugin: retry policy 'p' raised" in caplog.text
    assert "ZeroDivisionError: boom" in caplog.text


def test_retry_delay_with_an_unknown_policy_stops(caplog: pytest.LogCaptureFixture) -> None:
    assert retry_delay(_registry(), RetrySpec(policy="nope", attempts=5), 1, logging.getLogger("test")) is None
    assert "retry policy 'nope': no installed plugin provides it" in caplog.text


def test_retry_delay_none_from_the_policy_stops() -> None:
    registry = _registry(p=lambda attempt, config: None)
    assert retry_delay(registry, RetrySpec(policy="p", attempts=5), 1, logging.getLogger("test")) is None
