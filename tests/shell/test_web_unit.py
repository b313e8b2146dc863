"""``cronflow systemd-unit --web``: the unit of ``cronflow web``, beside the daemon's,
accepted by ``systemd-analyze verify`` without a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_systemd_unit import SHIPPED, cronflow, installed_cronflow, needs_analyze, verify


def printed(tmp_path: Path, *flags: str) -> Path:
    proc = cronflow("systemd-unit", "--web", *flags, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    unit = tmp_path / "units" / "cronflow-web.service"
    unit.parent.mkdir(exist_ok=True)
    unit.write_text(proc.stdout)
    return unit


@pytest.mark.parametrize("flags, shipped", [((), "cronflow-web.service"), (("--user",), "cronflow-web-user.service")])
def test_the_web_unit_runs_cronflow_web(tmp_path: Path, flags: tuple[str, ...], shipped: str) -> None:
    text = printed(tmp_path, *flags).read_text()
    assert f"\nExecStart={installed_cronflow()} web\n" in text
    assert "\nKillMode=process\n" in text and "Type=notify" not in text
    assert text == (SHIPPED / shipped).read_text().replace("ExecStart=/usr/local/bin/cronflow ",
                                                           f"ExecStart={installed_cronflow()} ")
    if not flags:
        assert "\nEnvironment=CRONFLOW_STATE_DIR=/var/lib/cronflow\n" in text
        assert "Requires=cronflow.service" not in text  # it keeps answering while the daemon restarts


@needs_analyze
@pytest.mark.parametrize("user", [False, True])
def test_systemd_analyze_verify_accepts_the_web_units(tmp_path: Path, user: bool) -> None:
    unit = printed(tmp_path, *(("--user",) if user else ()))
    proc = verify(unit, user=user, tmp_path=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_the_daemon_unit_is_still_the_default(tmp_path: Path) -> None:
    proc = cronflow("systemd-unit", cwd=tmp_path)
    assert f"\nExecStart={installed_cronflow()} daemon\n" in proc.stdout
