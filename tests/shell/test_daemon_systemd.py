"""systemd integration: the notify protocol, the journal format, a clean job environment."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import subprocess
import sys
from pathlib import Path

from daemon_helpers import Daemon, wait_for

from cronflow.shell.daemon import log as daemonlog
from cronflow.shell.daemon.sdnotify import Notifier


def test_notify_protocol_and_job_environment(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(10)
    env_dump = tmp_path / "env"
    daemon = Daemon(tmp_path, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    daemon.write_job("show", f'command = "env > {env_dump}"\n')
    try:
        daemon.start()
        messages = []

        def received(text: str) -> bool:
            while not any(text in m for m in messages):
                messages.append(server.recv(4096).decode())
            return True

        received("READY=1")
        received("WATCHDOG=1")
        daemon.signal(signal.SIGHUP)
        received("RELOADING=1")
        reloading = next(m for m in messages if "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in reloading, "one datagram carries both"
        daemon.cli("force", "show")
        wait_for(lambda: env_dump.exists() and env_dump.read_text(), timeout=5, on_timeout=daemon.log)
        assert daemon.stop() == 0
        received("STOPPING=1")
    finally:
        server.close()
        if daemon.proc and daemon.proc.poll() is None:
            daemon.stop()
    job_env = env_dump.read_text()
    assert "NOTIFY_SOCKET" not in job_env and "WATCHDOG_" not in job_env
    assert "CRONFLOW_JOB=show" in job_env


def test_notifier_without_socket_is_silent() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled and notifier.ready() is False and notifier.watchdog_interval is None


def test_abstract_socket_address() -> None:
    assert Notifier(env={"NOTIFY_SOCKET": "@name"}).address == "\0name"
    assert Notifier(env={"WATCHDOG_USEC": "2000000"}).watchdog_interval == 1.0


def test_journal_priority_prefixes_only_when_stderr_is_the_journal(tmp_path: Path) -> None:
    code = ("import logging, sys; from cronflow.shell.daemon import log as daemonlog; log = daemonlog.setup();"
            "log.info('hello'); log.error('bad')")
    with open(tmp_path / "err", "w") as err:
        import os
        stat = os.fstat(err.fileno())
        journal = f"{stat.st_dev}:{stat.st_ino}"
        subprocess.run([sys.executable, "-c", code], stderr=err, env={"JOURNAL_STREAM": journal,
                                                                      "PATH": "/usr/bin:/bin"}, check=True)
    assert (tmp_path / "err").read_text().splitlines() == ["<6>hello", "<3>bad"]
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"JOURNAL_STREAM": "1:2", "PATH": "/usr/bin:/bin"})
    lines = plain.stderr.splitlines()
    assert lines[0].endswith(" INFO hello") and lines[1].endswith(" ERROR bad")
    assert not daemonlog.stderr_is_journal(env={})
    logging.getLogger("cronflow").handlers.clear()


def test_notifier_never_blocks_on_a_full_socket(tmp_path: Path) -> None:
    # a receiver that does not read: its queue fills after net.unix.max_dgram_qlen
    # datagrams, and a blocking send would then hang the daemon's event loop for good
    address = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    notifier = Notifier(env={"NOTIFY_SOCKET": address})
    try:
        sent: list[bool] = []
        # in a thread, so that a regression fails this test instead of hanging the suite
        sender = threading.Thread(target=lambda: sent.extend(notifier.status(f"n{i}") for i in range(1000)),
                                  daemon=True)
        sender.start()
        sender.join(10)
        assert not sender.is_alive(), "a notification blocked on a full socket"
        assert sent[0] and not sent[-1], "the queue should fill and later sends be dropped"
        server.recv(4096)  # room again: notifications resume
        assert notifier.ready("ok")
    finally:
        notifier.close()
        server.close()
