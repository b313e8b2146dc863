"""A test kit for plugin authors: a fresh plugin manager, fake runs and jobs, and a real
``cronflow run`` of a job file in a temporary directory.

Two levels, both used by ``examples/custom-plugin/tests``:

* In-process, quick: :func:`harness` registers the plugin on a fresh manager (the
  built-ins plus it, nothing else installed) and calls it exactly as cronflow does,
  contained: ``h.notify("logfile", "failure", fake_run(), path=...)``,
  ``h.retry_delays("fibonacci", 5, delay="10s")``, ``h.hook("on_run_finish", run=...)``,
  ``h.before_run(fake_job(), fake_run())``, ``h.invoke("hello", "you")``; with
  ``harness(plugin, settings="[plugins.NAME]...")`` its ``plugin_config`` reads that.
* End to end: :func:`run_job` writes a job file (and ``cronflow.toml``, and single-file
  plugins for ``plugins_dir``) in a temporary directory and runs ``python -m cronflow run``
  on it in a subprocess: the real loading, locking, process, history and hooks. The
  plugin under test must be importable there: installed (``pip install -e .``), or given
  as ``plugins={"name": source}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cronflow.core.settings import Settings, parse_settings
from cronflow.errors import PluginError
from cronflow.model import Job, NotifySpec, RetrySpec, Run, RunState
from cronflow.plugins.config import settings_in_use
from cronflow.plugins.dispatch import BeforeRun, Dispatcher, call_hook, notify, retry_delay
from cronflow.plugins.manager import CronflowPluginManager, Registry, build_registry, get_plugin_manager, register_plugin

__all__ = ["Harness", "JobResult", "fake_job", "fake_run", "harness", "plugin_manager", "run_job"]

_EPOCH = datetime(2030, 1, 1, 3, 0, tzinfo=timezone.utc)


def plugin_manager(*plugins: object, builtins: bool = True, **named: object) -> CronflowPluginManager:
    """A fresh plugin manager with the built-ins (unless ``builtins=False``) and the given
    plugins (modules or objects; positional ones named after their module or class, or
    ``name=plugin``), no installed entry point. A plugin cronflow would leave out (a
    misspelled hook, a signature pluggy refuses) raises ``PluginError`` here: in a test,
    loud is better than contained."""
    from cronflow.plugins.manager import DEFAULT_PLUGINS

    pm = get_plugin_manager(entry_points=False, disabled=() if builtins else DEFAULT_PLUGINS)
    entries = [(_name_of(plugin), plugin) for plugin in plugins] + list(named.items())
    for name, plugin in entries:
        if not register_plugin(pm, plugin, name):
            raise PluginError(f"plugin {name}: {pm.failed[name]}")
    return pm


def _name_of(plugin: object) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name)


def fake_run(**fields: Any) -> Run:
    """A ``cronflow.model.Run`` as hooks and notifiers get it: a finished, succeeded run of
    job ``job`` unless ``fields`` say otherwise (``state="failed"`` is accepted)."""
    values: dict[str, Any] = {
        "id": "0123456789abcdef", "job": "job", "state": RunState.SUCCEEDED, "attempt": 1, "exit_code": 0,
        "nominal": _EPOCH, "started": _EPOCH, "ended": _EPOCH + timedelta(seconds=1), "trigger": "schedule",
    }
    values.update(fields)
    if isinstance(values["state"], str):
        values["state"] = RunState(values["state"])
    return Run(**values)


def fake_job(**fields: Any) -> Job:
    """A ``cronflow.model.Job`` named ``job`` running ``true`` unless ``fields`` say otherwise."""
    values: dict[str, Any] = {"name": "job", "path": "/etc/cronflow/jobs.d/job.toml", "command": "true"}
    values.update(fields)
    return Job(**values)


@dataclass
class Harness:
    """A plugin on a fresh manager, called as cronflow calls it (see the module docs).
    While it calls plugin code, ``settings`` are what ``cronflow.plugin_config`` reads
    (None: the ``cronflow.toml`` found as a command line finds it)."""

    pm: CronflowPluginManager
    registry: Registry
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("cronflow.testing"))
    settings: Settings | None = None

    def _host(self) -> Any:
        return settings_in_use(self.settings)

    def notify(self, via: str, event: str = "failure", run: Run | None = None, *, timeout: float = 10.0,
               **config: Any) -> bool:
        """Deliver one notification through notifier ``via`` (``config``: its
        ``[[notify]]`` table); True when it returned normally (errors are logged)."""
        spec = NotifySpec(via=via, config=config)
        with self._host():
            return notify(self.registry, spec, event, run or fake_run(state=RunState.FAILED, exit_code=1),
                          self.logger, timeout=timeout)

    def retry_delays(self, policy: str, attempts: int, **config: Any) -> list[float | None]:
        """The waits policy ``policy`` gives after attempts 1..``attempts`` (the last is
        None: cronflow enforces ``attempts``), ``config`` being its ``[retry]`` table."""
        spec = RetrySpec(policy=policy, attempts=attempts, config={"policy": policy, "attempts": attempts, **config})
        with self._host():
            return [retry_delay(self.registry, spec, n, self.logger, run_id="0123456789abcdef")
                    for n in range(1, attempts + 1)]

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call event hook ``name`` (``run=...``, ``flow_run=...``, ``path=..., error=...``),
        contained as the daemon calls it."""
        with self._host():
            call_hook(self.pm, name, self.logger, **kwargs)

    def before_run(self, job: Job | None = None, run: Run | None = None, *, timeout: float = 10.0) -> BeforeRun:
        """What the ``before_run`` implementations say about a run: ``vetoed_by`` (the
        plugin that returned False, or None) and ``env`` (what they added)."""
        dispatch = Dispatcher(self.pm, self.registry, self.logger, timeout=timeout)
        with self._host():
            return asyncio.run(dispatch.before_run(job or fake_job(), run or fake_run(state=RunState.QUEUED)))

    def commands(self) -> dict[str, Any]:
        """The click commands the plugins add (``register_commands``), by name."""
        from cronflow.plugins.commands import collect_commands

        return {name: item.command for name, item in collect_commands(self.pm, logger=self.logger).commands.items()}

    def invoke(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
        """Run the plugin command ``name`` with ``args`` in-process (``click.testing``);
        the ``Result`` has ``exit_code`` and ``output``."""
        from click.testing import CliRunner

        commands = self.commands()
        if name not in commands:
            raise PluginError(f"no plugin adds a command {name!r} (added: {', '.join(sorted(commands)) or 'none'})")
        with self._host():
            return CliRunner().invoke(commands[name], list(args), env=dict(env or {}), catch_exceptions=False)


def harness(*plugins: object, settings: str | None = None, **named: object) -> Harness:
    """A :class:`Harness` for ``plugins`` (see :func:`plugin_manager`); ``settings``: the
    text of a ``cronflow.toml`` (``[plugins.NAME]`` tables) the plugins then read."""
    pm = plugin_manager(*plugins, **named)
    parsed = None if settings is None else parse_settings("cronflow.toml", settings)
    return Harness(pm=pm, registry=build_registry(pm), settings=parsed)


@dataclass(frozen=True)
class JobResult:
    """What a real ``cronflow run`` of a job did: its exit status and output, the run as
    ``cronflow history --json`` shows it (None when none was recorded), its log."""

    exit_code: int
    stdout: str
    stderr: str
    run: dict[str, Any] | None
    log: str
    root: Path

    @property
    def state(self) -> str | None:
        """The run's final state (``succeeded``, ``failed``, ``skipped``...)."""
        return None if self.run is None else self.run["state"]


def run_job(job: str, *, name: str = "job", settings: str | None = None, plugins: Mapping[str, str] | None = None,
            env: Mapping[str, str] | None = None, root: str | os.PathLike[str] | None = None,
            timeout: float = 60.0) -> JobResult:
    """Run the job file text ``job`` (as ``jobs.d/NAME.toml``) through a real ``cronflow
    run`` in ``root`` (default: a new temporary directory, kept for inspection).

    ``settings``: the text of ``cronflow.toml`` beside ``jobs.d`` (``[plugins.NAME]``
    tables...); ``plugins``: single-file plugins (name -> source) written to
    ``root/plugins``, which ``plugins_dir`` then names; ``env``: added to the
    environment, from which every ``CRONFLOW_*`` variable of the caller is removed
    (the run does not depend on the tester's own settings).
    """
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="cronflow-testing-"))
    jobs = base / "jobs.d"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / f"{name}.toml").write_text(job, encoding="utf-8")
    text = settings or ""
    if plugins:
        (base / "plugins").mkdir(exist_ok=True)
        for plugin, source in plugins.items():
            (base / "plugins" / f"{plugin}.py").write_text(source, encoding="utf-8")
        if "plugins_dir" not in text:
            text = 'plugins_dir = "plugins"\n' + text
    if text:
        (base / "cronflow.toml").write_text(text, encoding="utf-8")
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CRONFLOW_")}
    environ.update({"CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(base / "state"),
                    "CRONFLOW_TIMEZONE": "UTC"})
    environ.update(env or {})

    def cronflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cronflow", *args], capture_output=True, text=True,
                              env=environ, cwd=base, timeout=timeout)

    ran = cronflow("run", name)
    history = cronflow("history", name, "--json")
    rows = json.loads(history.stdout) if history.returncode == 0 and history.stdout.strip() else []
    row = rows[0] if rows else None
    log = ""
    if row is not None and row.get("log_path") and Path(row["log_path"]).exists():
        log = Path(row["log_path"]).read_text(encoding="utf-8", errors="replace")
    return JobResult(exit_code=ran.returncode, stdout=ran.stdout, stderr=ran.stderr, run=row, log=log, root=base)
