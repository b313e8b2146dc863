"""``cronflow.testing``, the plugin authors' test kit (its use on a real plugin is
``examples/custom-plugin/tests``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cronflow import hookimpl
from cronflow.errors import PluginError
from cronflow.testing import fake_job, fake_run, harness, plugin_manager, run_job

GATE = '''
from cronflow import hookimpl, plugin_config


@hookimpl
def before_run(job, run, env):
    if job.name == "blocked":
        return False
    env["GATE_TOKEN"] = plugin_config("gate")["token"]
'''


def test_a_fresh_manager_has_the_builtins_and_the_plugin_and_refuses_a_typo_loudly() -> None:
    class Typo:
        @hookimpl
        def on_run_finsh(self, run: Any) -> None:
            pass

    pm = plugin_manager()
    assert pm.has_plugin("cronflow.builtin.notify")
    with pytest.raises(PluginError, match="plugin typo: unknown hook on_run_finsh"):
        plugin_manager(typo=Typo())


def test_harness_asks_before_run_and_fakes_runs_and_jobs() -> None:
    class Gate:
        @hookimpl
        def before_run(self, job: Any, env: dict) -> bool:
            env["SEEN"] = job.name
            return job.name != "blocked"

    h = harness(gate=Gate())
    assert h.before_run(fake_job(name="open")).env == {"SEEN": "open"}
    assert h.before_run(fake_job(name="blocked")).vetoed_by == "gate"
    assert fake_run(state="failed").state.value == "failed"
    with pytest.raises(PluginError, match="no plugin adds a command 'hello'"):
        h.invoke("hello")


def test_run_job_runs_a_real_cronflow_run_with_local_plugins_and_settings(tmp_path: Path) -> None:
    settings = '[plugins.gate]\ntoken = { env = "ZZ_GATE_TOKEN" }\n'
    ok = run_job('command = "echo $GATE_TOKEN"\n', name="open", settings=settings, plugins={"gate": GATE},
                 env={"ZZ_GATE_TOKEN": "t"}, root=tmp_path / "a")
    assert (ok.exit_code, ok.stdout, ok.state) == (0, "t\n", "succeeded"), ok.stderr
    assert ok.log == "t\n"
    blocked = run_job('command = "true"\n', name="blocked", plugins={"gate": GATE}, root=tmp_path / "b")
    assert (blocked.exit_code, blocked.state, blocked.run["reason"]) == (75, "skipped", "vetoed")
    assert "vetoed by plugin gate" in blocked.log
