"""The textfile-collector file: valid exposition format (parsed strictly here), atomic
writes, counters carried over a restart, nothing done unless configured, and the package
installed with pip as a third party's would be."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import cronflow_prometheus
from cronflow.model import Run, RunState
from cronflow_prometheus.writer import forget_writers

PACKAGE = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,(?=[a-zA-Z_]))?)*\}'
_SAMPLE = re.compile(rf"({_NAME})({_LABELS})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)")


def parse_exposition(text: str) -> dict[str, dict]:
    """A strict reader of the text format: every family has HELP and TYPE before its
    samples, appears once, and every line is a comment or a well-formed sample."""
    assert text.endswith("\n")
    families: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in families, f"family {name} twice"
            families[name] = {"help": line.split(" ", 3)[3], "type": None, "samples": {}}
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current and kind in ("gauge", "counter")
            families[name]["type"] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"bad sample line {line!r}"
            assert match.group(1) == current and families[current]["type"], line
            labels = tuple(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            assert labels not in families[current]["samples"], f"duplicate {line!r}"
            families[current]["samples"][labels] = float(match.group(3))
    return families


def run(job: str, state: RunState, exit_code: int | None, seconds: float, end: datetime,
        kind: str = "job") -> Run:
    return Run(id=f"{job}-{end:%H%M%S}", job=job, kind=kind, state=state, attempt=1,
               nominal=end - timedelta(seconds=seconds), started=end - timedelta(seconds=seconds),
               ended=end, exit_code=exit_code)


@pytest.fixture
def prom_dir(tmp_path, monkeypatch) -> Path:
    forget_writers()
    directory = tmp_path / "textfile"
    monkeypatch.setenv("CRONFLOW_PROMETHEUS_DIR", str(directory))
    monkeypatch.delenv("CRONFLOW_PROMETHEUS_FILE", raising=False)
    yield directory
    forget_writers()


def test_metrics_per_job_in_valid_exposition_format(prom_dir):
    t1, t2, t3 = T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 12.5, t1))
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.FAILED, 3, 2, t2))
    cronflow_prometheus.on_run_finish(run=run('we"ird\\job', RunState.TIMED_OUT, None, 60, t2))
    cronflow_prometheus.on_flow_finish(flow_run=run("etl", RunState.WARNING, None, 300, t3, "flow"))
    assert sorted(p.name for p in prom_dir.iterdir()) == ["cronflow.prom"]  # no temp file left
    families = parse_exposition((prom_dir / "cronflow.prom").read_text())
    assert families["cronflow_job_runs_total"]["type"] == "counter"
    backup = (("job", "backup"), ("kind", "job"))
    value = lambda family, *extra: families[family]["samples"][backup + extra]  # noqa: E731
    assert value("cronflow_job_runs_total", ("state", "succeeded")) == 1
    assert value("cronflow_job_runs_total", ("state", "failed")) == 1
    assert value("cronflow_job_last_run_timestamp_seconds") == t2.timestamp()
    assert value("cronflow_job_last_success_timestamp_seconds") == t1.timestamp()
    assert value("cronflow_job_last_duration_seconds") == 2
    assert value("cronflow_job_last_exit_code") == 3
    states = {k[2][1]: v for k, v in families["cronflow_job_last_state"]["samples"].items()
              if k[:2] == backup}
    assert states["failed"] == 1 and sum(states.values()) == 1 and "succeeded" in states
    weird = (("job", 'we\\"ird\\\\job'), ("kind", "job"))
    assert families["cronflow_job_runs_total"]["samples"][weird + (("state", "timed_out"),)] == 1
    assert weird not in families["cronflow_job_last_exit_code"]["samples"]
    etl = (("job", "etl"), ("kind", "flow"))
    assert families["cronflow_job_last_success_timestamp_seconds"]["samples"][etl] == t3.timestamp()
    assert os.stat(prom_dir / "cronflow.prom").st_mode & 0o777 == 0o644


def test_a_restarted_daemon_carries_on_from_the_file(prom_dir):
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 1, T0))
    cronflow_prometheus.on_run_finish(run=run("report", RunState.SUCCEEDED, 0, 1, T0))
    before = (prom_dir / "cronflow.prom").read_text()
    forget_writers()  # a new process
    later = T0 + timedelta(days=1)
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 1, later))
    families = parse_exposition((prom_dir / "cronflow.prom").read_text())
    runs = families["cronflow_job_runs_total"]["samples"]
    assert runs[(("job", "backup"), ("kind", "job"), ("state", "succeeded"))] == 2
    # a job that has not run since the restart keeps its last success time
    assert families["cronflow_job_last_success_timestamp_seconds"]["samples"][
        (("job", "report"), ("kind", "job"))] == T0.timestamp()
    assert 'job="report"' in before


def test_the_file_name_can_be_chosen(prom_dir, monkeypatch):
    monkeypatch.setenv("CRONFLOW_PROMETHEUS_FILE", "jobs.prom")
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 1, T0))
    assert [p.name for p in prom_dir.iterdir()] == ["jobs.prom"]
    monkeypatch.setenv("CRONFLOW_PROMETHEUS_FILE", "jobs.txt")
    with pytest.raises(ValueError, match="ending in .prom"):
        cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 1, T0))


def test_nothing_happens_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("CRONFLOW_PROMETHEUS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    cronflow_prometheus.on_run_finish(run=run("backup", RunState.SUCCEEDED, 0, 1, T0))
    assert list(tmp_path.iterdir()) == []


def test_writes_from_many_threads_lose_no_run(prom_dir):
    import threading

    def finish(i: int) -> None:
        cronflow_prometheus.on_run_finish(run=run(f"job{i % 5}", RunState.SUCCEEDED, 0, 1, T0))

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    families = parse_exposition((prom_dir / "cronflow.prom").read_text())
    assert sum(families["cronflow_job_runs_total"]["samples"].values()) == 50


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """PYTHONPATH under which the package is installed the way a user installs it
    (the existing install when CI already installed ``./plugins/*/``)."""
    try:
        importlib.metadata.distribution("cronflow-prometheus")
        return os.environ.get("PYTHONPATH", "")
    except importlib.metadata.PackageNotFoundError:
        pass
    work = tmp_path_factory.mktemp("pip")
    source = work / "src"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(work / "site"), str(source)],
                   check=True, capture_output=True, timeout=300)
    return str(work / "site")


def test_installed_with_pip_it_hooks_on_run_finish(installed, tmp_path):
    code = ("import json; from cronflow.plugins import get_plugin_manager; pm = get_plugin_manager(); "
            "print(json.dumps({h: [i.plugin_name for i in getattr(pm.hook, h).get_hookimpls()] "
            "for h in ('on_run_finish', 'on_flow_finish')}))")
    env = {**os.environ, "PYTHONPATH": installed}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    hooks = json.loads(proc.stdout)
    assert "prometheus" in hooks["on_run_finish"] and "prometheus" in hooks["on_flow_finish"]


def test_installed_it_shows_in_cronflow_plugins(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": installed}
    proc = subprocess.run([sys.executable, "-m", "cronflow", "plugins", "--json"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "prometheus" in proc.stdout and "on_run_finish" in proc.stdout
