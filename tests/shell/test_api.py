"""cronflow.api from a job script: start runs of another job, wait, see which failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, sys
from cronflow import api

handles = [api.start("fetch", {"ticker": t}) for t in ["AAPL", "BAD", "MSFT"]]
ok, failed = api.wait_all(handles, timeout=20)
print(json.dumps({"ok": [r.params["ticker"] for r in ok], "failed": [r.params["ticker"] for r in failed],
                  "ids": [h.run_id for h in handles]}))
try:
    api.wait_all(handles, raise_on_failure=True, timeout=5)
except api.RunsFailed as exc:
    print("raised", len(exc.failed))
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "fetch.toml").write_text(
        'command = "sleep 0.5; test \\"$CRONFLOW_PARAM_TICKER\\" != BAD"\n'
        'overlap = "allow_all"\nmax_concurrent = 3\n[params]\nticker = "X"\n')
    (tmp_path / "orchestrate.py").write_text(SCRIPT)
    (jobs / "orchestrate.toml").write_text(f'command = [{json.dumps(sys.executable)}, '
                                          f'{json.dumps(str(tmp_path / "orchestrate.py"))}]\n')
    return jobs, state


def cli(dirs: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess[str]:
    jobs, state = dirs
    return subprocess.run([sys.executable, "-m", "cronflow", *args, "--jobs-dir", str(jobs), "--state-dir",
                           str(state)], capture_output=True, text=True, timeout=40)


def test_a_job_script_starts_three_runs_waits_and_sees_which_failed(dirs: tuple[Path, Path]) -> None:
    result = cli(dirs, "run", "orchestrate")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[0])
    assert report["ok"] == ["AAPL", "MSFT"] and report["failed"] == ["BAD"]
    assert "raised 1" in result.stdout
    # the runs are in the history like any other, started by the api, and ran in parallel
    runs = json.loads(cli(dirs, "history", "fetch", "--json").stdout)
    assert {run["id"] for run in runs} == set(report["ids"])
    assert {run["trigger"] for run in runs} == {"api"}
    starts = sorted(run["started"] for run in runs)
    ends = sorted(run["ended"] for run in runs)
    assert starts[-1] < ends[0]


def test_start_of_an_unknown_job_is_a_clear_error(dirs: tuple[Path, Path]) -> None:
    from cronflow import api
    from cronflow.errors import NotFoundError

    jobs, state = dirs
    with pytest.raises(NotFoundError, match="no job or flow named 'nope'"):
        api.start("nope", jobs_dir=jobs, state_dir=state)


def test_wait_times_out_with_a_bounded_wait(dirs: tuple[Path, Path]) -> None:
    from cronflow import api

    jobs, state = dirs
    (jobs / "long.toml").write_text('command = "sleep 1.5"\n')
    handle = api.start("long", jobs_dir=jobs, state_dir=state)
    with pytest.raises(TimeoutError):
        api.wait(handle, timeout=0.3)
    run = api.wait(handle, timeout=10)
    assert run.state.value == "succeeded"


FLOW_FINISH_PLUGIN = """
import os
from cronflow import hookimpl

@hookimpl
def on_flow_finish(flow_run):
    with open(os.environ["FLOW_FINISHES"], "a", encoding="utf-8") as handle:
        handle.write(f"{flow_run.job} {flow_run.id} {flow_run.state}\\n")
"""

START_FLOW = """
import json
from cronflow import api

run = api.wait(api.start("pipe"), timeout=30)
print(json.dumps({"id": run.id, "state": str(run.state), "reason": run.reason}))
"""


def test_a_flow_started_while_it_runs_is_skipped_and_reaches_on_flow_finish(tmp_path: Path) -> None:
    """Every outcome reaches the hooks (SPEC 12): the api's skip of a busy flow too."""
    import os

    from cronflow.shell.process import locks
    from test_plugins_entry_points import install_fake

    jobs, state, site, seen = tmp_path / "jobs.d", tmp_path / "state", tmp_path / "site", tmp_path / "finishes"
    jobs.mkdir()
    (jobs / "pipe.toml").write_text('[[phases]]\nname = "p"\n[[phases.steps]]\nname = "one"\ncommand = "true"\n')
    install_fake(site, "cronflow-flow-finishes", "1.0", {"flow-finishes": "flow_finishes"},
                 {"flow_finishes": FLOW_FINISH_PLUGIN})
    (tmp_path / "start_flow.py").write_text(START_FLOW)
    env = {**os.environ, "PYTHONPATH": str(site), "FLOW_FINISHES": str(seen),
           "CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(state)}
    state.mkdir(mode=0o700)
    held = locks.try_acquire(locks.lock_path(state, "pipe"))
    assert held is not None
    try:
        proc = subprocess.run([sys.executable, str(tmp_path / "start_flow.py")], env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        held.release()
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["state"] == "skipped"
    assert seen.read_text().split() == ["pipe", run["id"], "skipped"]
