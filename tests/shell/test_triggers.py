"""The built-in triggers: ``files`` against real file changes, ``after`` through the hooks."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cronflow.builtin.globs import compile_pattern, watch_root
from cronflow.builtin.triggers import FilesTrigger
from cronflow.model import Run, RunState
from cronflow.plugins import build_registry, call_hook, get_plugin_manager

LOG = logging.getLogger("test-triggers")


async def until(condition: Callable[[], bool], *, poke: Callable[[], None] | None = None,
                timeout: float = 10.0) -> None:
    """Bounded polling: wait for ``condition``, calling ``poke`` between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        if poke is not None:
            poke()
        await asyncio.sleep(0.1)


async def quiet_for(fired: list, count: int, seconds: float) -> None:
    """Assert no new fire arrives within ``seconds`` (debounce is 50 ms in these tests)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert len(fired) == count, "fired when it should not have"
        await asyncio.sleep(0.05)


async def settled(fired: list, *, quiet: float = 0.3, timeout: float = 10.0) -> int:
    """The number of fires once none has arrived for ``quiet`` seconds: the pokes that
    ``until`` repeated on a slow machine may still be in the watcher's pipeline."""
    deadline = time.monotonic() + timeout
    count, since = len(fired), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            pytest.fail("fires did not settle in time")
        await asyncio.sleep(0.05)
        if len(fired) != count:
            count, since = len(fired), time.monotonic()
    return count


def touch(path: Path) -> Callable[[], None]:
    counter = iter(range(10**9))
    return lambda: path.write_text(str(next(counter)))


def files_trigger(config: dict[str, Any], fired: list) -> Any:
    registry = build_registry(get_plugin_manager(entry_points=False))
    return registry.triggers["files"].obj({"debounce": "50ms", **config}, lambda params=None: fired.append(params))


async def running(trigger: Any) -> asyncio.Task:
    return asyncio.create_task(trigger.run())


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- files -------------------------------------------------------------------------------


def test_files_any_mode_fires_on_a_matching_change_with_params(tmp_path: Path) -> None:
    fired: list = []

    async def main() -> None:
        trigger = files_trigger({"paths": [str(tmp_path / "*.csv")], "params": {"SOURCE": "inbox"}}, fired)
        task = await running(trigger)
        await until(lambda: len(fired) > 0, poke=touch(tmp_path / "orders.csv"))
        count = await settled(fired)
        (tmp_path / "notes.txt").write_text("ignored")  # does not match the glob
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "deep.csv").write_text("x")  # * does not cross directories
        await quiet_for(fired, count, 0.6)
        await stop(task)

    asyncio.run(main())
    assert fired[0] == {"SOURCE": "inbox"}


def test_files_all_mode_fires_once_every_path_changed(tmp_path: Path) -> None:
    a, b = tmp_path / "a.done", tmp_path / "b.done"
    fired: list = []

    async def main() -> None:
        trigger = files_trigger({"paths": [str(a), str(b)], "mode": "all"}, fired)
        task = await running(trigger)
        poke_a, poke_b = touch(a), touch(b)
        await until(lambda: len(fired) == 1, poke=lambda: (poke_a(), poke_b()))  # watcher is up
        await asyncio.sleep(0.3)  # let the last pokes' batch drain before counting again
        fired.clear()
        trigger._changed.clear()
        poke_a()
        poke_a()
        await quiet_for(fired, 0, 0.6)  # a alone, even twice, is not enough
        await until(lambda: len(fired) == 1, poke=poke_b)
        await stop(task)

    asyncio.run(main())


def test_files_cooldown_delays_changes_right_after_a_fire_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    fired_at: list[float] = []
    fired: list = []

    async def main() -> None:
        trigger = files_trigger({"paths": str(path), "cooldown": "1500ms"}, fired)
        trigger._fire = lambda params=None: (fired.append(params), fired_at.append(time.monotonic()))
        task = await running(trigger)
        poke = touch(path)
        await until(lambda: len(fired) == 1, poke=poke)
        count = await settled(fired)
        poke()  # inside the cooldown: not now, but once it ends
        await quiet_for(fired, count, 0.6)
        await until(lambda: len(fired) == count + 1)
        await stop(task)

    asyncio.run(main())
    assert fired_at[-1] - fired_at[-2] >= 1.5


def test_files_directory_and_recursive_glob(tmp_path: Path) -> None:
    (tmp_path / "in" / "x" / "y").mkdir(parents=True)
    fired: list = []

    async def main() -> None:
        trigger = files_trigger({"paths": [str(tmp_path / "in" / "**" / "*.json")]}, fired)
        task = await running(trigger)
        await until(lambda: len(fired) > 0, poke=touch(tmp_path / "in" / "x" / "y" / "deep.json"))
        await stop(task)

    asyncio.run(main())


def test_files_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    trigger = files_trigger({"paths": str(tmp_path / "nope" / "*.csv")}, [])
    with pytest.raises(FileNotFoundError, match="files trigger: .*nope does not exist"):
        asyncio.run(trigger.run())


def test_files_decision_logic_with_explicit_times() -> None:
    trigger = FilesTrigger({"paths": ["/a", "/b"], "mode": "all", "cooldown": "10s"}, lambda params=None: None)
    assert trigger.matching({"/a/file", "/c"}) == {0}
    assert trigger.observe({0}, now=100.0) is False
    assert trigger.observe({0}, now=101.0) is False
    assert trigger.observe({1}, now=102.0) is True
    assert trigger.trailing_at() is None
    assert trigger.observe({0}, now=105.0) is False  # cooldown: kept for its end
    assert trigger.trailing_at() == 112.0
    assert trigger.cooldown_end(111.9) is False
    assert trigger.cooldown_end(112.0) is False  # "all": /b has not changed since
    assert trigger.observe({1}, now=113.0) is True  # /a (in the cooldown) and /b
    assert trigger.observe({0, 1}, now=114.0) is False
    assert trigger.cooldown_end(123.0) is True  # both changed during that cooldown
    assert trigger.trailing_at() is None


def test_files_any_mode_fires_once_at_the_end_of_a_cooldown_with_changes() -> None:
    trigger = FilesTrigger({"paths": ["/in/*.csv"], "cooldown": "5s"}, lambda params=None: None)
    assert trigger.observe({0}, now=100.0) is True  # a.csv
    assert trigger.observe({0}, now=101.0) is False  # b.csv, a second later
    assert trigger.observe({0}, now=103.0) is False  # c.csv
    assert trigger.trailing_at() == 105.0
    assert trigger.cooldown_end(105.0) is True  # one fire for b and c
    assert trigger.trailing_at() is None and trigger.cooldown_end(111.0) is False
    assert trigger.observe({0}, now=111.0) is True  # the cooldown of the trailing fire is over


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/data/*.csv", "/data/a.csv", True),
        ("/data/*.csv", "/data/sub/a.csv", False),
        ("/data/**/*.csv", "/data/a.csv", True),
        ("/data/**/*.csv", "/data/x/y/a.csv", True),
        ("/data/file?.txt", "/data/file1.txt", True),
        ("/data/[ab].txt", "/data/c.txt", False),
        ("/data/[!ab].txt", "/data/c.txt", True),
        ("/data", "/data/any/thing", True),
        ("/data", "/database", False),
    ],
)
def test_glob_matching(pattern: str, path: str, matches: bool) -> None:
    assert bool(compile_pattern(pattern).match(path)) is matches


def test_watch_root_is_the_part_before_the_first_wildcard() -> None:
    assert watch_root("/data/in/*.csv") == "/data/in"
    assert watch_root("/data/**/x/*.csv") == "/data"
    assert watch_root("/data/in/file.csv") == "/data/in/file.csv"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'paths' is required"),
        ({"paths": "/x", "mode": "both"}, "'mode' must be \"any\" or \"all\""),
        ({"paths": "/x", "cooldown": "later"}, "^cooldown: invalid duration 'later'"),
        ({"paths": 3}, "'paths' must be a string or a list of strings"),
    ],
)
def test_files_config_errors(config: dict, message: str) -> None:
    registry = build_registry(get_plugin_manager(entry_points=False))
    with pytest.raises(ValueError, match=message):
        registry.triggers["files"].obj.validate(config)


# --- after -------------------------------------------------------------------------------


def _finished(job: str, state: RunState, kind: str = "job") -> Run:
    return Run(id=f"{job}-1", job=job, kind=kind, state=state)


def test_after_fires_through_the_public_hooks_from_another_thread() -> None:
    pm = get_plugin_manager(entry_points=False)
    registry = build_registry(pm)
    fired: list = []

    async def main() -> None:
        trigger = registry.triggers["after"].obj(
            {"jobs": ["extract", "etl"], "on": ["success"], "params": {"FROM": "upstream"}},
            lambda params=None: fired.append(params),
        )
        task = asyncio.create_task(trigger.run())
        await asyncio.sleep(0)  # let run() register itself

        def finish_runs() -> None:  # the daemon calls hooks from worker threads
            call_hook(pm, "on_run_finish", LOG, run=_finished("other", RunState.SUCCEEDED))
            call_hook(pm, "on_run_finish", LOG, run=_finished("extract", RunState.FAILED))
            call_hook(pm, "on_run_finish", LOG, run=_finished("extract", RunState.SUCCEEDED, kind="step"))
            call_hook(pm, "on_run_finish", LOG, run=_finished("extract", RunState.SUCCEEDED))
            call_hook(pm, "on_flow_finish", LOG, flow_run=_finished("etl", RunState.WARNING, kind="flow"))

        worker = threading.Thread(target=finish_runs)
        worker.start()
        await until(lambda: len(fired) == 2)
        worker.join()
        await stop(task)
        # cancelled: no longer listening
        call_hook(pm, "on_run_finish", LOG, run=_finished("extract", RunState.SUCCEEDED))
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert fired == [{"FROM": "upstream"}, {"FROM": "upstream"}]


def test_after_default_outcome_is_succeeded_and_failure_group() -> None:
    registry = build_registry(get_plugin_manager(entry_points=False))
    factory = registry.triggers["after"].obj
    default = factory({"job": "a"}, lambda params=None: None)
    assert default.wants(_finished("a", RunState.SUCCEEDED))
    assert not default.wants(_finished("a", RunState.WARNING))
    failure = factory({"job": "a", "on": "failure"}, lambda params=None: None)
    assert [failure.wants(_finished("a", s)) for s in (RunState.FAILED, RunState.TIMED_OUT, RunState.CANCELLED)] == [
        True, True, False]


def test_after_any_is_every_outcome_but_a_skipped_fire_which_is_named() -> None:
    factory = build_registry(get_plugin_manager(entry_points=False)).triggers["after"].obj
    anything = factory({"job": "a", "on": ["any"]}, lambda params=None: None)
    ran = [s for s in RunState if s.terminal and s not in (RunState.SKIPPED, RunState.NOT_RUN)]
    assert all(anything.wants(_finished("a", s)) for s in ran)
    assert not anything.wants(_finished("a", RunState.SKIPPED))
    skipped = factory({"job": "a", "on": ["skipped", "lost"]}, lambda params=None: None)
    assert [skipped.wants(_finished("a", s)) for s in (RunState.SKIPPED, RunState.LOST, RunState.FAILED)] == [
        True, True, False]


def test_after_triggers_of_two_managers_never_see_each_other() -> None:
    pm_one, pm_two = get_plugin_manager(entry_points=False), get_plugin_manager(entry_points=False)
    fired: list = []

    async def main() -> None:
        trigger = build_registry(pm_one).triggers["after"].obj({"job": "a"}, lambda params=None: fired.append(1))
        task = asyncio.create_task(trigger.run())
        await asyncio.sleep(0)
        call_hook(pm_two, "on_run_finish", LOG, run=_finished("a", RunState.SUCCEEDED))
        await asyncio.sleep(0.05)
        assert fired == []
        call_hook(pm_one, "on_run_finish", LOG, run=_finished("a", RunState.SUCCEEDED))
        await until(lambda: fired == [1])
        await stop(task)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'job' \\(or 'jobs'\\) is required"),
        ({"job": "a", "jobs": ["b"]}, "write 'job' or 'jobs', not both"),
        ({"job": "a", "on": ["done"]}, "'on': unknown outcome 'done'"),
        ({"job": "a", "when": 1}, "unknown key 'when'"),
    ],
)
def test_after_config_errors(config: dict, message: str) -> None:
    registry = build_registry(get_plugin_manager(entry_points=False))
    with pytest.raises(ValueError, match=message):
        registry.triggers["after"].obj.validate(config)
