"""The plugin manager, registries, validation and contained hook calls, on fresh managers.

Every hook spec has a ``test_hook_<name>`` here (checked by a meta-test), and every spec's
docstring appears in docs/writing-plugins.md.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from cronflow import hookimpl, hookspecs
from cronflow.errors import PluginError
from cronflow.model import Flow, Job, NotifySpec, RetrySpec, Run, RunState, Step, TriggerSpec
from cronflow.plugins import (
    DEFAULT_PLUGINS,
    build_registry,
    call_hook,
    check_plugin_names,
    get_plugin_manager,
    notify,
    plugin_info,
    retry_delay,
)

ROOT = Path(__file__).resolve().parents[2]
LOG = logging.getLogger("test-plugins")
HOOK_NAMES = sorted(
    name for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(func, "cronflow_spec")
)


def _run(**changes: Any) -> Run:
    fields: dict[str, Any] = {"id": "r1", "job": "backup", "state": RunState.FAILED, "exit_code": 3}
    fields.update(changes)
    return Run(**fields)


def _manager(*plugins: tuple[str, object]):
    pm = get_plugin_manager(entry_points=False)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm


class Recorder:
    """A plugin implementing every event hook with fewer arguments than some specs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        self.calls.append(("on_run_start", run.id))

    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        self.calls.append(("on_run_finish", run.state))

    @hookimpl
    def on_flow_finish(self, flow_run: Run) -> None:
        self.calls.append(("on_flow_finish", flow_run.job))

    @hookimpl
    def on_config_error(self, error: Exception) -> None:  # takes only one of two arguments
        self.calls.append(("on_config_error", str(error)))


class Raiser:
    @hookimpl
    def on_run_finish(self, run: Run) -> None:
        raise RuntimeError("plugin bug")


# --- the manager --------------------------------------------------------------------------


def test_builtins_load_first_and_provide_the_built_in_names() -> None:
    pm = get_plugin_manager(entry_points=False)
    names = [name for name, _ in pm.list_name_plugin()]
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    registry = build_registry(pm)
    assert {"command", "webhook", "email"} <= set(registry.notifiers)
    assert {"fixed", "linear", "exponential"} <= set(registry.retry_policies)
    assert {"files", "after"} <= set(registry.triggers)
    assert registry.notifiers["webhook"].plugin == "cronflow.builtin.notify"


def test_each_manager_is_fresh() -> None:
    one, two = get_plugin_manager(entry_points=False), get_plugin_manager(entry_points=False)
    plugin = "cronflow.builtin.triggers"
    assert one.get_plugin(plugin) is not two.get_plugin(plugin)
    one.register(Recorder(), name="extra")
    assert not two.has_plugin("extra")


def test_disable_by_argument_and_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = get_plugin_manager(entry_points=False, disabled=["cronflow.builtin.notify"])
    assert "webhook" not in build_registry(pm).notifiers
    monkeypatch.setenv("CRONFLOW_DISABLE_PLUGINS", " cronflow.builtin.retry , other")
    registry = build_registry(get_plugin_manager(entry_points=False))
    assert registry.retry_policies == {}
    assert "webhook" in registry.notifiers


def test_misspelled_hook_is_an_error_naming_plugin_and_hook() -> None:
    class Typo:
        @hookimpl
        def on_run_finsh(self, run: Run) -> None:
            pass

    pm = get_plugin_manager(entry_points=False)
    pm.register(Typo(), name="typo-plugin")
    from cronflow.plugins.manager import _check_pending

    with pytest.raises(PluginError, match=r"plugin typo-plugin: unknown hook on_run_finsh \(did you mean 'on_run_finish'\?\)"):
        _check_pending(pm)


def test_a_name_registered_by_two_plugins_is_refused_naming_both(caplog: pytest.LogCaptureFixture) -> None:
    class Mine:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("webhook", lambda event, run, config: None)
            register("mine", lambda event, run, config: None)

    pm = _manager(("my-plugin", Mine()))
    registry = build_registry(pm, logger=LOG)
    message = ("notifier 'webhook' is registered by both plugin cronflow.builtin.notify and plugin my-plugin; "
               "uninstall or disable one ($CRONFLOW_DISABLE_PLUGINS)")
    assert "webhook" not in registry.notifiers and "mine" in registry.notifiers and "command" in registry.notifiers
    clash = registry.clash("register_notifiers", "webhook")
    assert clash is not None and clash.message == message
    assert message in caplog.text
    assert registry.problems == {"cronflow.builtin.notify": (message,), "my-plugin": (message,)}
    job = Job(name="hook", path="/jobs/hook.toml", schedule="@daily", command="true",
              notify=(NotifySpec(via="webhook", line=7, config={"url": "http://x"}),))
    assert [str(e) for e in check_plugin_names(job, registry)] == [f"/jobs/hook.toml:7: {message}"]
    info = {item["name"]: item for item in plugin_info(pm, registry=registry)}
    assert info["my-plugin"]["state"] == info["cronflow.builtin.notify"]["state"] == "clashing"
    assert info["my-plugin"]["provides"] == {"register_notifiers": ["mine", "webhook"]}
    assert info["cronflow.builtin.retry"]["state"] == "loaded"


def test_registering_a_non_callable_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    class Bad:
        @hookimpl
        def register_retry_policies(self, register: Any) -> None:
            register("weird", 42)
            register("fine", lambda attempt, config: 1.0)

    registry = build_registry(_manager(("bad", Bad())), logger=LOG)
    assert "weird" not in registry.retry_policies and "fine" in registry.retry_policies
    assert "plugin bad: register_retry_policies registered 'weird' as 42, which is not callable; ignored" in caplog.text
    assert registry.problems["bad"] == ("register_retry_policies registered 'weird' as 42, which is not callable",)


def test_a_raising_registration_hook_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def register_triggers(self, register: Any) -> None:
            register("half", lambda config, fire: None)
            raise RuntimeError("oops")

    registry = build_registry(_manager(("broken", Broken())), logger=LOG)
    assert "files" in registry.triggers
    assert "plugin broken: hook register_triggers raised" in caplog.text


def test_plugin_info_lists_hooks_and_names() -> None:
    pm = _manager(("recorder", Recorder()))
    info = {item["name"]: item for item in plugin_info(pm)}
    assert info["cronflow.builtin.notify"]["builtin"] is True
    assert info["cronflow.builtin.notify"]["provides"] == {"register_notifiers": ["command", "email", "webhook"]}
    assert info["cronflow.builtin.triggers"]["hooks"] == ["on_flow_finish", "on_run_finish", "register_triggers"]
    assert info["recorder"]["builtin"] is False
    assert info["recorder"]["hooks"] == ["on_config_error", "on_flow_finish", "on_run_finish", "on_run_start"]


# --- hooks: one test per spec (the meta-test below checks the names) -----------------------


def test_hook_register_notifiers() -> None:
    seen: list[tuple[str, str, dict]] = []

    class Plugin:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("memo", lambda event, run, config: seen.append((event, run.id, config)))

    registry = build_registry(_manager(("memo-plugin", Plugin())))
    assert registry.notifiers["memo"].plugin == "memo-plugin"
    spec = NotifySpec(via="memo", on=("failure",), config={"channel": "#ops"})
    assert notify(registry, spec, "failure", _run(), LOG) is True
    assert seen == [("failure", "r1", {"channel": "#ops"})]


def test_hook_register_retry_policies() -> None:
    class Plugin:
        @hookimpl
        def register_retry_policies(self, register: Any) -> None:
            register("table", lambda attempt, config: config["waits"][attempt - 1])

    registry = build_registry(_manager(("table-plugin", Plugin())))
    spec = RetrySpec(policy="table", attempts=4, config={"waits": [1, 5, 7]})
    assert [retry_delay(registry, spec, n, LOG) for n in (1, 2, 3, 4)] == [1.0, 5.0, 7.0, None]


def test_hook_register_triggers() -> None:
    class Once:
        def __init__(self, config: dict, fire: Any) -> None:
            self.config, self.fire = config, fire

        async def run(self) -> None:
            self.fire(self.config.get("params"))
            await asyncio.Event().wait()

    class Plugin:
        @hookimpl
        def register_triggers(self, register: Any) -> None:
            register("once", Once)

    registry = build_registry(_manager(("once-plugin", Plugin())))
    fired: list[Any] = []

    async def main() -> None:
        trigger = registry.triggers["once"].obj({"params": {"X": "1"}}, lambda params=None: fired.append(params))
        task = asyncio.create_task(trigger.run())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert fired == [{"X": "1"}]


def test_hook_register_schedules(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from cronflow.core import schedulekinds as kinds
    from cronflow.core.schedule import parse_schedule
    from cronflow.errors import ScheduleError
    from cronflow.plugins.host import use_schedule_kinds

    class Hourly:
        canonical = "hourly:"
        kind = "test"
        has_reboot = False

        def next_fire(self, after: datetime) -> datetime:
            return after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)

    class Plugin:
        @hookimpl
        def register_schedules(self, register: Any) -> None:
            register("hourly", lambda text, zone: Hourly() if text == "hourly:" else int("x"))
            register("Bad Prefix", lambda text, zone: None)

    registry = build_registry(_manager(("hourly-plugin", Plugin())), logger=LOG)
    assert list(registry.schedules) == ["hourly"]
    assert "a schedule prefix is a lowercase word" in caplog.text
    zone, anchor = ZoneInfo("UTC"), datetime(2030, 1, 1, tzinfo=UTC)
    use_schedule_kinds(registry)
    try:
        schedule = parse_schedule("hourly:", zone=zone, anchor=anchor)
        assert schedule.next_fire(datetime(2030, 1, 1, 5, 30, tzinfo=UTC)) == datetime(2030, 1, 1, 6, tzinfo=UTC)
        with pytest.raises(ScheduleError, match=r"schedule 'hourly:x': plugin hourly-plugin: invalid literal"):
            parse_schedule("hourly:x", zone=zone, anchor=anchor)
        with pytest.raises(ScheduleError, match=r"unknown schedule kind 'hourli' in 'hourli:' \(did you mean 'hourly'"):
            parse_schedule("hourli:", zone=zone, anchor=anchor)
        # a prefix two plugins register is refused, naming both
        use_schedule_kinds(build_registry(_manager(("one", Plugin()), ("two", Plugin())), logger=LOG))
        with pytest.raises(ScheduleError, match="schedule 'hourly:': schedule kind 'hourly' is registered by both "
                                                "plugin one and plugin two"):
            parse_schedule("hourly:", zone=zone, anchor=anchor)
    finally:
        kinds.set_provider(None)
    with pytest.raises(ScheduleError, match="plugin schedule kinds: none installed"):
        parse_schedule("hourly:", zone=zone, anchor=anchor)


def test_a_validate_may_return_its_problems_instead_of_raising() -> None:
    def page(event: str, run: Any, config: Any) -> None:
        pass

    page.validate = lambda config: [] if "to" in config else ["'to' is required", "'level' is unknown"]

    class Plugin:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("page", page)

    registry = build_registry(_manager(("pager", Plugin())))
    good = _job(notify=(NotifySpec(via="page", line=4, config={"to": "ops"}),))
    bad = _job(notify=(NotifySpec(via="page", line=4, config={"level": 1}),))
    assert check_plugin_names(good, registry) == []
    assert [str(e) for e in check_plugin_names(bad, registry)] == [
        "/jobs/backup.toml:4: notify via 'page': 'to' is required; 'level' is unknown"]


def test_hook_register_commands(caplog: pytest.LogCaptureFixture) -> None:
    import click
    from click.testing import CliRunner

    from cronflow.plugins.commands import collect_commands

    class Hello:
        @hookimpl
        def register_commands(self, cli: Any) -> None:
            @cli.command()
            def hello() -> None:
                """Say hello."""
                click.echo("hello")

            @cli.command(name="check")
            def not_check() -> None:
                pass

    class Twin:
        @hookimpl
        def register_commands(self, cli: Any) -> None:
            cli.add_command(click.Command("hello", callback=lambda: None))
            cli.add_command(click.Command("twin", callback=lambda: click.echo("twin")))

    class Broken:
        @hookimpl
        def register_commands(self, cli: Any) -> None:
            raise RuntimeError("no commands today")

    found = collect_commands(_manager(("hello", Hello())), builtin=("check", "run"), logger=LOG)
    assert sorted(found.commands) == ["hello"]
    assert CliRunner().invoke(found.commands["hello"].command).output == "hello\n"
    assert found.problems == {"hello": ["command 'check' of plugin hello is refused: cronflow has a verb of "
                                        "that name; rename it"]}
    found = collect_commands(_manager(("hello", Hello()), ("twin", Twin()), ("broken", Broken())), logger=LOG)
    assert sorted(found.commands) == ["check", "twin"]
    clash = ("command 'hello' is added by both plugin hello and plugin twin; uninstall or disable one "
             "($CRONFLOW_DISABLE_PLUGINS)")
    assert found.problems == {"hello": [clash], "twin": [clash]}
    assert clash in caplog.text and "plugin broken: hook register_commands raised" in caplog.text


def _job(**changes: Any) -> Job:
    fields: dict[str, Any] = {"name": "backup", "path": "/jobs/backup.toml", "schedule": "@daily", "command": "true"}
    fields.update(changes)
    return Job(**fields)


def test_hook_before_run(caplog: pytest.LogCaptureFixture) -> None:
    from cronflow.plugins import Dispatcher

    class Gate:
        @hookimpl
        def before_run(self, job: Job, run: Run, env: dict) -> bool | None:
            env["SEEN"] = f"{job.name} {run.id}"
            return job.name != "blocked"

    class Quiet:  # takes fewer arguments than the spec, says nothing
        @hookimpl
        def before_run(self, run: Run) -> None:
            pass

    class Raises:
        @hookimpl
        def before_run(self, job: Job) -> bool:
            raise RuntimeError("gate bug")

    class Slow:
        @hookimpl
        def before_run(self, env: dict) -> bool:
            time.sleep(1.0)
            env["LATE"] = "1"
            return False

    async def ask(dispatch: Dispatcher, job: Job) -> Any:
        return await dispatch.before_run(job, _run(state=RunState.QUEUED))

    pm = _manager(("gate", Gate()), ("quiet", Quiet()), ("raises", Raises()), ("slow", Slow()))
    dispatch = Dispatcher(pm, build_registry(pm), LOG, timeout=0.2)
    allowed = asyncio.run(ask(dispatch, _job()))
    assert allowed.vetoed_by is None and dict(allowed.env) == {"SEEN": "backup r1"}
    assert "plugin raises: hook before_run raised (run r1); the run goes ahead" in caplog.text
    assert "plugin slow: hook before_run timed out after 0.2s (run r1; it goes ahead)" in caplog.text
    vetoed = asyncio.run(ask(dispatch, _job(name="blocked")))
    assert vetoed.vetoed_by == "gate" and dict(vetoed.env) == {}


def test_hook_register_executors() -> None:
    class Wrapper:
        def __init__(self, config: dict) -> None:
            self.prefix = config["prefix"]

        def command(self, job: Any, run: Any, argv: list[str], env: dict) -> list[str]:
            return [self.prefix, *argv]

    class Plugin:
        @hookimpl
        def register_executors(self, register: Any) -> None:
            register("wrapped", Wrapper)

    registry = build_registry(_manager(("wrap-plugin", Plugin())))
    assert registry.executors["wrapped"].plugin == "wrap-plugin"
    executor = registry.executors["wrapped"].obj({"prefix": "nice"})
    assert executor.command(None, _run(), ["true"], {}) == ["nice", "true"]
    # the built-in local executor comes through the same hook, and starts the command as is
    local = registry.executors["local"]
    assert local.plugin == "cronflow.builtin.executors"
    assert local.obj({}).command(None, _run(), ["echo", "x"], {}) == ["echo", "x"]


def test_hook_on_run_start() -> None:
    recorder = Recorder()
    call_hook(_manager(("rec", recorder)), "on_run_start", LOG, run=_run(state=RunState.RUNNING))
    assert recorder.calls == [("on_run_start", "r1")]


def test_hook_on_run_finish_contains_a_raising_plugin(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    pm = _manager(("rec", recorder), ("raiser", Raiser()))
    call_hook(pm, "on_run_finish", LOG, run=_run())
    assert recorder.calls == [("on_run_finish", RunState.FAILED)]  # still called
    assert "plugin raiser: hook on_run_finish raised" in caplog.text
    assert "RuntimeError: plugin bug" in caplog.text


def test_hook_on_flow_finish() -> None:
    recorder = Recorder()
    call_hook(_manager(("rec", recorder)), "on_flow_finish", LOG, flow_run=_run(kind="flow", job="etl"))
    assert recorder.calls == [("on_flow_finish", "etl")]


def test_hook_on_config_error() -> None:
    from cronflow.errors import ConfigError

    recorder = Recorder()
    error = ConfigError("jobs.d/x.toml", 3, "unknown key 'comand'")
    call_hook(_manager(("rec", recorder)), "on_config_error", LOG, path="jobs.d/x.toml", error=error)
    assert recorder.calls == [("on_config_error", "jobs.d/x.toml:3: unknown key 'comand'")]


# --- notify(): containment -----------------------------------------------------------------


def _registry_with(notifier: Any):
    class Plugin:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("it", notifier)

    return build_registry(_manager(("it-plugin", Plugin())))


def test_a_raising_notifier_is_reported_and_contained(caplog: pytest.LogCaptureFixture) -> None:
    def boom(event: str, run: Run, config: dict) -> None:
        raise ConnectionError("no route")

    ok = notify(_registry_with(boom), NotifySpec(via="it"), "failure", _run(), LOG)
    assert ok is False
    assert "plugin it-plugin: notifier 'it' raised" in caplog.text
    assert "ConnectionError: no route" in caplog.text


def test_a_hanging_notifier_is_cut_off_by_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    release = threading.Event()
    registry = _registry_with(lambda event, run, config: release.wait(30))
    started = time.monotonic()
    try:
        ok = notify(registry, NotifySpec(via="it"), "failure", _run(), LOG, timeout=0.3)
    finally:
        release.set()
    assert ok is False
    assert time.monotonic() - started < 3
    assert "plugin it-plugin: notifier 'it' timed out after 0.3s (event failure, run r1); abandoned" in caplog.text


def test_a_notifier_own_timeout_extends_the_cut_off() -> None:
    registry = _registry_with(lambda event, run, config: time.sleep(0.4))
    assert notify(registry, NotifySpec(via="it", config={"timeout": "1s"}), "failure", _run(), LOG, timeout=0.1)


def test_an_unknown_notifier_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert notify(_registry_with(print), NotifySpec(via="pager"), "failure", _run(), LOG) is False
    assert "notify via 'pager': no installed plugin provides this notifier" in caplog.text


# --- check_plugin_names ---------------------------------------------------------------------


def test_check_reports_unknown_names_with_the_available_ones_at_their_lines() -> None:
    job = Job(
        name="backup", path="jobs.d/backup.toml", command=("true",),
        retry=RetrySpec(policy="exponentail", attempts=3, config={"policy": "exponentail"}, line=4),
        notify=(NotifySpec(via="slack", line=8), NotifySpec(via="webhok", config={"url": "http://x"}, line=12)),
        triggers=(TriggerSpec(kind="cron", line=16),),
    )
    registry = build_registry(get_plugin_manager(entry_points=False))
    messages = [str(error) for error in check_plugin_names(job, registry)]
    assert messages[0].startswith("jobs.d/backup.toml:8: unknown notifier 'slack' (available: ")
    assert "command, email, webhook" in messages[0]
    assert messages[1].startswith("jobs.d/backup.toml:12: unknown notifier 'webhok' (did you mean 'webhook'?)")
    assert messages[2].startswith("jobs.d/backup.toml:16: unknown trigger kind 'cron' (available: after, files")
    assert messages[3].startswith(
        "jobs.d/backup.toml:4: unknown retry policy 'exponentail' (did you mean 'exponential'?) (available: "
    )
    assert len(messages) == 4


def test_check_runs_each_objects_validate_at_the_table_line() -> None:
    job = Job(
        name="j", path="j.toml", command="true",
        retry=RetrySpec(policy="fixed", attempts=2, config={"delay": "soon"}, line=2),
        notify=(NotifySpec(via="webhook", config={"url": "ftp://x"}, line=5),),
        triggers=(TriggerSpec(kind="files", config={"paths": ["/tmp/x"], "mode": "some"}, line=9),),
    )
    registry = build_registry(get_plugin_manager(entry_points=False))
    assert [str(e) for e in check_plugin_names(job, registry)] == [
        "j.toml:5: notify via 'webhook': 'url' must be an http:// or https:// URL",
        "j.toml:9: trigger 'files': 'mode' must be \"any\" or \"all\", got 'some'",
        "j.toml:2: retry policy 'fixed': delay: invalid duration 'soon'; write e.g. \"90s\", \"15m\", \"2h\", \"1d\" or \"1h30m\"",
    ]


def test_check_accepts_valid_definitions_and_jobs_without_retry() -> None:
    registry = build_registry(get_plugin_manager(entry_points=False))
    job = Job(name="j", path="j.toml", command="true",
              notify=(NotifySpec(via="command", config={"command": "echo hi"}, line=3),))
    assert check_plugin_names(job, registry) == []
    no_retry_builtins = build_registry(get_plugin_manager(entry_points=False, disabled=["cronflow.builtin.retry"]))
    assert check_plugin_names(Job(name="k", path="k.toml", command="true"), no_retry_builtins) == []


def test_check_flows_covers_step_retry_notify_and_triggers() -> None:
    flow = Flow(
        name="etl", path="etl.toml",
        steps=(
            Step(name="a", command="true", line=5, retry=RetrySpec(policy="backoff", attempts=2, config={"policy": "backoff"}, line=7)),
            Step(name="b", command="true", line=10),
        ),
        notify=(NotifySpec(via="pager", line=2),),
        triggers=(TriggerSpec(kind="after", config={"job": "extract"}, line=3),),
    )
    registry = build_registry(get_plugin_manager(entry_points=False))
    messages = [str(error) for error in check_plugin_names(flow, registry)]
    assert [m.split(": unknown")[0] for m in messages] == ["etl.toml:2", "etl.toml:7"]
    assert "unknown retry policy 'backoff'" in messages[1]


# --- meta-tests --------------------------------------------------------------------------------


def test_every_hook_has_a_test() -> None:
    source = Path(__file__).read_text()
    missing = [hook for hook in HOOK_NAMES if not re.search(rf"^def test_hook_{hook}(_\w+)?\(", source, re.M)]
    assert HOOK_NAMES == sorted(
        ["register_notifiers", "register_retry_policies", "register_triggers", "register_schedules",
         "register_commands", "register_executors",
         "before_run", "on_run_start", "on_run_finish", "on_flow_finish", "on_config_error"]
    )
    assert missing == [], f"hooks without a test_hook_<name>: {missing}"


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented_with_its_docstring(hook: str) -> None:
    doc = (ROOT / "docs" / "writing-plugins.md").read_text()
    func = getattr(hookspecs, hook)
    signature = f"{hook}({', '.join(inspect.signature(func).parameters)})"
    assert f"### `{signature}`" in doc, f"no heading for {signature}"
    section = doc.split(f"### `{signature}`", 1)[1].split("\n### ", 1)[0]
    assert _normalise(inspect.getdoc(func) or "") in _normalise(section)
