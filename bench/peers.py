"""Starting the schedulers under test as subprocesses: the floor, APScheduler 3, cronflow.

Each ``start_*`` returns a running ``Scheduler`` that fires N jobs every second, each
job starting ``STAMP FILE jobNNNN``. APScheduler is not a cronflow dependency: it is
installed on first use into a cache directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cronflow-bench"
APS_DIR = CACHE / "apscheduler3"
APS_REQUIREMENT = "apscheduler>=3.10,<4"


@dataclass
class Scheduler:
    """A scheduler process under test; ``stop()`` ends it (and is safe to call twice)."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Scheduler:
    stderr_path = workdir / f"{name}.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    return Scheduler(name, proc, stderr_path)


def start_floor(workdir: Path, stamp: list[str], stamp_file: Path, n: int) -> Scheduler:
    """The bare asyncio + ``os.posix_spawn`` loop (``floor_peer.py``)."""
    argv = [sys.executable, str(HERE / "floor_peer.py"), json.dumps(stamp), str(stamp_file), str(n)]
    return _spawn("floor", argv, workdir)


def start_floor_duties(workdir: Path, stamp: list[str], stamp_file: Path, n: int) -> Scheduler:
    """The floor doing cronflow's per-process duties too (``floor_peer.py LOCK_DIR``)."""
    locks = workdir / "locks"
    locks.mkdir()
    argv = [sys.executable, str(HERE / "floor_peer.py"), json.dumps(stamp), str(stamp_file), str(n), str(locks)]
    return _spawn("floor+duties", argv, workdir)


def ensure_apscheduler() -> Path | str:
    """The directory holding APScheduler 3, installing it there on first use; or, when it
    cannot be had, a one-line reason."""
    if (APS_DIR / "apscheduler").is_dir():
        return APS_DIR
    APS_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                           str(APS_DIR), APS_REQUIREMENT], capture_output=True, text=True)
    if done.returncode != 0 or not (APS_DIR / "apscheduler").is_dir():
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        return f"could not install {APS_REQUIREMENT}: {last}"
    return APS_DIR


def start_apscheduler(workdir: Path, stamp: list[str], stamp_file: Path, n: int,
                      aps_dir: Path) -> Scheduler:
    """APScheduler 3 with a CronTrigger per job (``aps_peer.py``)."""
    argv = [sys.executable, str(HERE / "aps_peer.py"), json.dumps(stamp), str(stamp_file), str(n)]
    pythonpath = os.pathsep.join(p for p in (str(aps_dir), os.environ.get("PYTHONPATH")) if p)
    return _spawn("apscheduler", argv, workdir, {"PYTHONPATH": pythonpath})


def write_jobs(jobs_dir: Path, n: int, schedule: str, command: list[str]) -> None:
    """Write ``n`` job files ``jobNNNN.toml`` with one schedule, each running ``command``
    plus its own name."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        name = f"job{i:04d}"
        argv = command + [name]
        (jobs_dir / f"{name}.toml").write_text(
            f"schedule = {json.dumps(schedule)}\ncommand = {json.dumps(argv)}\n")


class NotifySocket:
    """A ``$NOTIFY_SOCKET`` datagram socket, as systemd provides for Type=notify units."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def wait_for(self, word: str, timeout: float) -> float | None:
        """Block until a datagram holding line ``word`` (e.g. ``READY=1``) arrives; return
        the arrival time (``time.monotonic``), or None on timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return None
            if word in data.decode(errors="replace").splitlines():
                return time.monotonic()
        return None

    def drain(self) -> None:
        """Drop the datagrams queued so far (a full queue makes the daemon drop the next)."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(4096)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


def cronflow_env(jobs_dir: Path, state_dir: Path) -> dict[str, str]:
    """Environment pointing every cronflow command at one jobs dir and state dir, with
    no third-party plugin loaded: cronflow as ``pip install cronflow`` gives it, whatever
    else the bench's interpreter has installed (a development venv holds the example
    and first-party plugins, whose hooks would be measured as cronflow's own cost)."""
    return {"CRONFLOW_JOBS_DIR": str(jobs_dir), "CRONFLOW_STATE_DIR": str(state_dir),
            "CRONFLOW_LOAD_PLUGINS": ""}


def start_cronflow(workdir: Path, jobs_dir: Path, state_dir: Path,
                   notify: NotifySocket | None = None) -> Scheduler:
    """A real ``cronflow daemon`` on ``jobs_dir``."""
    env = cronflow_env(jobs_dir, state_dir)
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify.path)
    argv = [sys.executable, "-m", "cronflow", "daemon", "--jobs-dir", str(jobs_dir),
            "--state-dir", str(state_dir)]
    return _spawn("cronflow", argv, workdir, env)


def start_cronflow_fires(workdir: Path, stamp: list[str], stamp_file: Path, n: int) -> Scheduler:
    """cronflow with ``n`` job files due every second, each running the stamp."""
    jobs = workdir / "jobs.d"
    write_jobs(jobs, n, "* * * * * *", [*stamp, str(stamp_file)])
    return start_cronflow(workdir, jobs, workdir / "state")


def cronflow_available() -> bool:
    """Whether this checkout has the daemon yet."""
    import importlib.util

    return importlib.util.find_spec("cronflow.shell.daemon.loop") is not None
