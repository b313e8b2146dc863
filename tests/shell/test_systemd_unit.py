"""``cronflow systemd-unit`` prints the shipped units with this installation's cronflow,
and ``systemd-analyze verify`` accepts them without a single warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "cronflow" / "systemd"
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
needs_analyze = pytest.mark.skipif(not Path(ANALYZE).exists(),
                                   reason="systemd-analyze is not installed on this machine")


def cronflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cronflow", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def verify(unit: Path, *, user: bool = False, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    args = [ANALYZE]
    if user:
        # a user manager needs a runtime dir, even just to verify a unit
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        args.append("--user")
    return subprocess.run([*args, "verify", str(unit)], env=env, capture_output=True,
                          text=True, timeout=60)


def printed_unit(tmp_path: Path, *flags: str) -> Path:
    proc = cronflow("systemd-unit", *flags, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "units" / "cronflow.service"
    unit.parent.mkdir(exist_ok=True)
    unit.write_text(proc.stdout)
    return unit


def installed_cronflow() -> str:
    return str(Path(sys.executable).parent / "cronflow")


def test_the_printed_unit_runs_the_installed_cronflow(tmp_path):
    text = printed_unit(tmp_path).read_text()
    assert f"\nExecStart={installed_cronflow()} daemon\n" in text
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=process",
                 "Restart=on-failure", "StateDirectory=cronflow", "StateDirectoryMode=0700",
                 "Environment=CRONFLOW_JOBS_DIR=/etc/cronflow/jobs.d",
                 "Environment=CRONFLOW_STATE_DIR=/var/lib/cronflow", "WantedBy=multi-user.target"):
        assert f"\n{line}\n" in text, line
    assert any(line.startswith("WatchdogSec=") for line in text.splitlines())
    # the rest is the shipped file, byte for byte
    shipped = (SHIPPED / "cronflow.service").read_text()
    assert text == shipped.replace("ExecStart=/usr/local/bin/cronflow ",
                                   f"ExecStart={installed_cronflow()} ")


def test_the_user_unit(tmp_path):
    text = printed_unit(tmp_path, "--user").read_text()
    assert f"\nExecStart={installed_cronflow()} daemon\n" in text
    assert "\nWantedBy=default.target\n" in text and "\nKillMode=process\n" in text
    assert "StateDirectory" not in text and "User=" not in text


@needs_analyze
def test_systemd_analyze_verify_accepts_the_system_unit(tmp_path):
    proc = verify(printed_unit(tmp_path), tmp_path=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


@needs_analyze
def test_systemd_analyze_verify_accepts_the_user_unit(tmp_path):
    unit = printed_unit(tmp_path, "--user")
    for user in (False, True):
        proc = verify(unit, user=user, tmp_path=tmp_path)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), user


@needs_analyze
def test_the_verify_check_does_catch_a_broken_unit(tmp_path):
    # the same check on a unit with one mistake: verify warns (even with status 0)
    unit = printed_unit(tmp_path)
    unit.write_text(unit.read_text().replace("KillMode=process", "KillMode=procces"))
    proc = verify(unit, tmp_path=tmp_path)
    assert "kill mode" in proc.stderr and "procces" in proc.stderr


def test_exec_overrides_the_program(tmp_path):
    proc = cronflow("systemd-unit", "--exec", "/opt/cronflow/bin/cronflow", cwd=tmp_path)
    assert "\nExecStart=/opt/cronflow/bin/cronflow daemon\n" in proc.stdout
    proc = cronflow("systemd-unit", "--exec", "bin/cronflow", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "Error: --exec must be an absolute path without spaces, got 'bin/cronflow'\n"


def test_the_units_are_package_data():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'cronflow = ["systemd/*.service"]' in pyproject
    assert sorted(p.name for p in SHIPPED.glob("*.service")) == [
        "cronflow-user.service", "cronflow-web-user.service", "cronflow-web.service", "cronflow.service"]
