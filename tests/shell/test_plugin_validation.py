"""The one plugin check (``cronflow.plugins.validation``) on real plugin threads: refusals
at their line, built-ins in-line, and a hung ``validate`` bounded by one deadline per load."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from cronflow.model import Job, NotifySpec
from cronflow.plugins import Registered, Registry
from cronflow.plugins.validation import PendingCheck, PluginChecker


class Pager:
    """A third-party notifier whose validate refuses plain http, and can be made to hang."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hang = False
        self.calls = 0

    def __call__(self, event, run, config) -> None:
        pass

    def validate(self, config) -> None:
        self.calls += 1
        if self.hang:
            self.release.wait(30)
        if not str(config.get("url", "")).startswith("https://"):
            raise ValueError("url must start with https://")


def job(name: str, url: str, via: str = "pager") -> Job:
    return Job(name=name, path=f"/jobs/{name}.toml", command="true",
               notify=(NotifySpec(via=via, config={"url": url}, line=4),))


@pytest.fixture
def pager():
    pager = Pager()
    yield pager
    pager.release.set()


def checker(pager: Pager, timeout: float = 0.5) -> PluginChecker:
    registry = Registry(notifiers={"pager": Registered(name="pager", obj=pager, plugin="zz-pager")})
    return PluginChecker(registry, logging.getLogger("test.validation"), timeout=timeout)


def test_a_refused_table_is_an_error_at_its_line_and_a_good_one_passes(pager) -> None:
    found = checker(pager).check_all([job("bad", "http://x"), job("good", "https://x")])
    assert [str(e) for e in found["/jobs/bad.toml"]] == [
        "/jobs/bad.toml:4: notify via 'pager': url must start with https://"]
    assert "/jobs/good.toml" not in found


def test_unknown_names_are_found_without_calling_any_plugin(pager) -> None:
    started = checker(pager).start(job("typo", "https://x", via="pagr"))
    assert not isinstance(started, PendingCheck)  # nothing of a third party to call: in-line
    assert "unknown notifier 'pagr'" in str(started[0]) and "did you mean 'pager'" in str(started[0])


def test_hung_validates_cost_one_deadline_per_load_not_one_per_file(pager, caplog) -> None:
    pager.hang = True
    check = checker(pager, timeout=0.5)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        found = check.check_all([job(f"j{i}", "http://x") for i in range(6)])
    took = time.monotonic() - began
    assert took < 1.5, took  # six hung files, one deadline
    assert found == {}  # accepted unchecked: a hung plugin unschedules nothing
    assert "plugin zz-pager: validate did not answer within 0.5s" in caplog.text

    # the stuck validate is not called again while it is stuck: the next load is immediate
    calls = pager.calls
    caplog.clear()
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert check.check_all([job("again", "http://x")]) == {}
    assert time.monotonic() - began < 0.3
    assert pager.calls == calls
    assert "validate not called (an earlier call is still stuck)" in caplog.text

    # once it returns, it is called again, and judges again
    pager.hang = False
    pager.release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = check.check_all([job("later", "http://x")])
        if found:
            break
        time.sleep(0.05)
    assert "url must start with https://" in str(found["/jobs/later.toml"][0])


def test_waiting_on_the_loop_shares_the_deadline(pager) -> None:
    pager.hang = True
    check = checker(pager, timeout=0.3)

    async def main() -> list:
        deadline = check.deadline()
        pending = [check.start(job(f"j{i}", "http://x")) for i in range(3)]
        assert all(isinstance(p, PendingCheck) for p in pending)
        return await asyncio.gather(*(check.wait(p, deadline) for p in pending))

    began = time.monotonic()
    assert asyncio.run(main()) == [[], [], []]
    assert time.monotonic() - began < 1.0
