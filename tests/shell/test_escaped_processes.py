"""No process of a timed-out or cancelled run survives, including one that left the
process group with ``setsid`` (SPEC 12): in daemon runs, ``cronflow run``, flow steps and
runs adopted by a restarted daemon.

The escapee is a double fork into a new session (the classic daemonizing idiom), so the
process-group kill alone misses it. Its ``sleep`` has a unique duration, so ``pgrep -f``
on that marker finds exactly this test's process (the "Done means" check).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from daemon_helpers import Daemon, cli, wait_for
from flow_helpers import Env as FlowEnv


def escaping_command() -> tuple[str, str]:
    """A shell command whose grandchild leaves the process group, and that grandchild's
    marker (a ``sleep`` duration no other process has)."""
    marker = f"300.{random.randrange(10**8):08d}"
    return f"(setsid sh -c 'sleep {marker}' &); echo escaped; sleep 60", f"sleep {marker}"


def marked(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (``pgrep -f``, without needing procps)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids


def escaped_then_gone(marker: str, *, on_timeout=None) -> None:
    """The escapee was running (the test is meaningful), and is gone in a bounded while."""
    wait_for(lambda: not marked(marker), timeout=15, message=f"no process left with {marker!r}",
             on_timeout=on_timeout)


def force_escaper(daemon: Daemon, extra: str = "") -> str:
    """Write and force job ``escaper``; its marker, once its escapee runs."""
    command, marker = escaping_command()
    daemon.write_job("escaper", f'command = {json.dumps(command)}\nkill_timeout = "1s"\n{extra}')
    daemon.cli("force", "escaper")
    wait_for(lambda: marked(marker), timeout=10, message="the escapee to start", on_timeout=daemon.log)
    return marker


def test_a_timed_out_daemon_run_leaves_no_escaped_process(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        marker = force_escaper(daemon, 'timeout = "3s"\n')
        wait_for(lambda: daemon.runs("escaper", "timed_out"), timeout=15, on_timeout=daemon.log)
        escaped_then_gone(marker, on_timeout=daemon.log)
        # the escapee held the job lock too: the next fire is not skipped as an overlap
        daemon.cli("force", "escaper")
        wait_for(lambda: len(daemon.runs("escaper", "timed_out")) == 2, timeout=20, on_timeout=daemon.log)
        assert not daemon.runs("escaper", "skipped")
        escaped_then_gone(marker, on_timeout=daemon.log)


def test_a_cancelled_daemon_run_leaves_no_escaped_process(tmp_path: Path) -> None:
    with Daemon(tmp_path) as daemon:
        marker = force_escaper(daemon)
        run = wait_for(lambda: daemon.runs("escaper", "running"), timeout=10, on_timeout=daemon.log)[0]
        assert daemon.cli("cancel", run["id"]).returncode == 0
        wait_for(lambda: daemon.runs("escaper", "cancelled"), timeout=15, on_timeout=daemon.log)
        escaped_then_gone(marker, on_timeout=daemon.log)


def test_an_adopted_run_cancelled_after_a_daemon_restart_leaves_no_escaped_process(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    marker = "sleep 300.none"
    try:
        daemon.start()
        marker = force_escaper(daemon)
        run = wait_for(lambda: daemon.runs("escaper", "running"), timeout=10, on_timeout=daemon.log)[0]
        daemon.kill()
        daemon.start()
        wait_for(lambda: "adopted as running" in daemon.log(), timeout=10, on_timeout=daemon.log)
        assert daemon.cli("cancel", run["id"]).returncode == 0
        wait_for(lambda: daemon.runs("escaper", "cancelled"), timeout=15, on_timeout=daemon.log)
        escaped_then_gone(marker, on_timeout=daemon.log)
        assert daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
        for pid in marked(marker):
            os.kill(pid, 9)


def test_cronflow_run_in_the_foreground_leaves_no_escaped_process(tmp_path: Path) -> None:
    command, marker = escaping_command()
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "escaper.toml").write_text(f'command = {json.dumps(command)}\ntimeout = "2s"\nkill_timeout = "1s"\n')
    try:
        result = cli("run", "escaper", jobs_dir=jobs, state_dir=state)
        assert result.returncode != 0 and "timed_out" in result.stdout + result.stderr
        escaped_then_gone(marker)
    finally:
        for pid in marked(marker):
            os.kill(pid, 9)


def test_a_timed_out_flow_step_leaves_no_escaped_process(tmp_path: Path) -> None:
    command, marker = escaping_command()
    env = FlowEnv(tmp_path)
    env.write("pipeline", f'[[steps]]\nname = "escaper"\ncommand = {json.dumps(command)}\ntimeout = "2s"\n')
    try:
        result = env.cli("run", "pipeline")
        assert result.returncode != 0, result.stdout + result.stderr
        escaped_then_gone(marker)
    finally:
        for pid in marked(marker):
            os.kill(pid, 9)


def test_a_command_notifier_of_the_run_is_not_mistaken_for_one_of_its_processes(tmp_path: Path) -> None:
    """A start notifier carries the run's CRONFLOW_RUN_ID to describe it; stopping the run
    must not kill it."""
    done = tmp_path / "notified"
    notifier = ["sh", "-c", f"sleep 4; echo ok > {done}"]
    with Daemon(tmp_path) as daemon:
        daemon.write_job("slow", 'command = "sleep 60"\ntimeout = "1s"\nkill_timeout = "1s"\n'
                                 f'[[notify]]\nvia = "command"\non = ["start"]\ncommand = {json.dumps(notifier)}\n')
        daemon.cli("force", "slow")
        wait_for(lambda: daemon.runs("slow", "timed_out"), timeout=15, on_timeout=daemon.log)
        wait_for(done.exists, timeout=15, message="the start notifier to finish", on_timeout=daemon.log)


def test_marked_finds_what_pgrep_finds() -> None:
    """The helper is an honest ``pgrep -f`` (where procps is installed)."""
    marker = f"sleep 300.{random.randrange(10**8):08d}"
    proc = subprocess.Popen(marker.split())
    try:
        # Popen returns once exec has closed its error pipe, which the kernel does before
        # it sets up the new command line; poll, as a user's pgrep a moment later would.
        wait_for(lambda: marked(marker), timeout=10, message=f"a process with {marker!r}")
        assert marked(marker) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert not marked(marker)
