"""Spawn a job's process, stream its output to a capped log, time it out, reap it.

Spawning is the daemon's hot path when many jobs are due together, so it avoids
``asyncio.create_subprocess_exec`` (its child watcher and transports cost about twice a
bare spawn): the child is started with ``os.posix_spawn`` in a new session (its own
process group), reaped through a pidfd watched by the event loop, and its stdout and
stderr share one pipe that the loop drains into the log file. A job that sets
``workdir`` or ``user`` needs a chdir or setuid in the child, which posix_spawn cannot
do; those go through ``subprocess.Popen`` (still reaped by the same pidfd path).

The log is capped (:mod:`cronflow.shell.process.logcap`): it keeps the first and the last
part of the output with a marker between them, so a runaway job neither fills the disk
nor blocks on a full pipe, and its last lines, where the errors are, are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cronflow.core.settings import DEFAULT_LOG_CAP
from cronflow.shell.process import fdwatch, killer
from cronflow.shell.process.logcap import CappedLog

_READ_SIZE = 65536
# after the job's main process exited, how long to keep reading output that processes it
# left behind still write, before the log is closed
_DRAIN_AFTER_EXIT = 1.0

_devnull: int | None = None
_log = logging.getLogger("cronflow")
_PREXEC = str(Path(__file__).with_name("prexec.py"))


def _dev_null() -> int:
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _devnull


@dataclass(slots=True, kw_only=True)
class SpawnSpec:
    """What to start. ``argv`` is final (a string command already wrapped in /bin/sh -c)."""

    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: str | Path
    log_cap: int = DEFAULT_LOG_CAP
    cwd: str | None = None
    user: str | None = None
    # descriptors the child inherits (the job lock), besides stdin/stdout/stderr
    pass_fds: tuple[int, ...] = ()
    # also copy the output to this descriptor (``cronflow run`` streams to the terminal)
    tee_fd: int | None = None
    header: bytes = b""
    # the job's ``nice`` and ``limits`` (resource name -> value, cronflow.core.limits)
    nice: int | None = None
    rlimits: Sequence[tuple[str, int]] = ()


class SpawnError(Exception):
    """The process could not be started (missing program, bad workdir, unknown user)."""


@dataclass(slots=True, eq=False)
class Process:
    """A started job process: its pid (also its process group id) and its exit."""

    pid: int
    _done: asyncio.Future[int] = field(repr=False)
    _output_done: asyncio.Future[None] = field(repr=False)
    # the run it belongs to (``CRONFLOW_RUN_ID`` in its environment): stopping it stops
    # the run's processes that left the group too
    run_id: str | None = None
    _sink: _LogSink | None = field(default=None, repr=False)

    @property
    def wrote_log(self) -> bool:
        """Whether the process's output reached its log file (it is created at the first
        output: a process that printed nothing leaves none)."""
        return self._sink is not None and self._sink.created

    @property
    def exited(self) -> asyncio.Future[int]:
        """Done with the exit code once the process has exited (its output may still be
        draining); for waiting on beside other futures. Do not cancel it."""
        return self._done

    async def wait(self) -> int:
        """The exit code (negative signal number when killed by a signal), once the
        process has exited and its output has been written to the log."""
        code = self._done.result() if self._done.done() else await asyncio.shield(self._done)
        if not self._output_done.done():
            # asyncio.wait neither cancels the future nor needs a task for it
            await asyncio.wait({self._output_done}, timeout=_DRAIN_AFTER_EXIT)
        return code

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (grandchildren included) and to the
        run's processes that left it."""
        killer.signal_run(self.pid, self.run_id, sig)

    def group_alive(self) -> bool:
        """Whether any process of the group or the run is still alive (zombies do not count)."""
        return killer.group_alive(self.pid, self.run_id)

    async def terminate(self, kill_timeout: float) -> None:
        """Stop the group and the run (:func:`cronflow.shell.process.killer.stop_group`)."""
        await killer.stop_group(self.pid, kill_timeout, reaped=self._done.done,
                                wait_reaped=lambda: asyncio.shield(self._done), run_id=self.run_id)


class _LogSink:
    """Drains the output pipe into the log file, capped, and optionally to a tee fd."""

    def __init__(self, read_fd: int, spec: SpawnSpec, done: asyncio.Future[None]) -> None:
        self.read_fd = read_fd
        self.tee_fd = spec.tee_fd
        self.cap = spec.log_cap
        self.done = done
        self.path = spec.log_path
        self.header = spec.header
        # Creating a file costs a few hundred microseconds on a busy disk: the log is
        # created at the first output, after the burst of simultaneous spawns, and a run
        # that prints nothing leaves no file.
        self.log: CappedLog | None = None
        self.created = False
        self.unwritable = False

    def _write(self, data: bytes) -> None:
        if self.unwritable:
            return
        try:
            if self.log is None:
                self.log = CappedLog(Path(self.path), self.cap, self.header)
                self.created = True
            self.log.write(data)
        except OSError as exc:
            # a full disk (or a gone directory) must not stop the drain: the job would
            # block on a full pipe. The rest of its output is discarded, said once.
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self.unwritable = True
        _log.warning("cannot write the log %s (%s); the rest of this run's output is discarded",
                     self.path, exc.strerror or exc)
        if self.log is not None:
            with contextlib.suppress(OSError):
                self.log.close()
            self.log = None

    def on_readable(self) -> None:
        try:
            data = os.read(self.read_fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self._write(data)
        if self.tee_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.tee_fd, data)

    def close(self) -> None:
        if self.read_fd < 0:
            return
        fdwatch.watcher().remove(self.read_fd)
        os.close(self.read_fd)
        self.read_fd = -1
        if self.log is not None:
            try:
                self.log.close()
            except OSError as exc:
                self._give_up(exc)
            self.log = None
        if not self.done.done():
            self.done.set_result(None)


@dataclass(slots=True)
class Started:
    """A process just started by :func:`start`, not yet watched: its pid and the read
    end of its output pipe."""

    pid: int
    read_fd: int


def spawn(spec: SpawnSpec) -> Process:
    """Start the process described by ``spec`` on the running loop; raise SpawnError when
    it cannot start. The pid is the process group id (the child leads a new session)."""
    return watch(start(spec), spec)


def start(spec: SpawnSpec) -> Started:
    """Only start the process (a pipe and the spawn); :func:`watch` must follow.

    Split from the watching so that a burst of simultaneous fires spawns every process
    in one tight loop first: each spawn copies the daemon's descriptor table, so the
    pidfds and loop registrations are better added after the burst, and each process
    starts without waiting for the others' bookkeeping."""
    read_fd, write_fd = os.pipe()
    try:
        pid = _start(spec, write_fd)
    except SpawnError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return Started(pid, read_fd)


def watch(started: Started, spec: SpawnSpec) -> Process:
    """Reap, drain and log the process from :func:`start` on the running loop."""
    loop = asyncio.get_running_loop()
    os.set_blocking(started.read_fd, False)
    output_done: asyncio.Future[None] = loop.create_future()
    sink = _LogSink(started.read_fd, spec, output_done)
    done: asyncio.Future[int] = loop.create_future()
    fds = fdwatch.watcher(loop)
    _watch_exit(fds, started.pid, done)
    fds.add(started.read_fd, sink.on_readable)
    return Process(pid=started.pid, _done=done, _output_done=output_done,
                   run_id=spec.env.get("CRONFLOW_RUN_ID"), _sink=sink)


def _prexec_argv(spec: SpawnSpec) -> Sequence[str]:
    """``spec.argv``, behind :mod:`cronflow.shell.process.prexec` when the job sets a
    priority or limits (a missing program is still a SpawnError, as without them)."""
    if spec.nice is None and not spec.rlimits:
        return spec.argv
    program = spec.argv[0]
    # a path relative to the job's workdir is left to prexec (exit status 127)
    if (os.sep not in program or os.path.isabs(program)) and \
            shutil.which(program, path=spec.env.get("PATH", os.defpath)) is None:
        raise SpawnError(f"cannot run {spec.argv[0]!r}: No such file or directory")
    options = ["--nice", str(spec.nice)] if spec.nice is not None else []
    for name, value in spec.rlimits:
        options += ["--limit", f"{name}={value}"]
    return [sys.executable, "-I", _PREXEC, *options, "--", *spec.argv]


def _start(spec: SpawnSpec, out_fd: int) -> int:
    argv = _prexec_argv(spec)
    env = spec.env
    if spec.cwd is None and spec.user is None:
        actions = [
            (os.POSIX_SPAWN_DUP2, _dev_null(), 0),
            (os.POSIX_SPAWN_DUP2, out_fd, 1),
            (os.POSIX_SPAWN_DUP2, out_fd, 2),
        ]
        # the event loop thread is the only one that spawns, so making the lock
        # inheritable for the duration of this call cannot leak it into another child
        for fd in spec.pass_fds:
            os.set_inheritable(fd, True)
        try:
            return os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)
        except OSError as exc:
            raise SpawnError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        finally:
            for fd in spec.pass_fds:
                os.set_inheritable(fd, False)
    argv, env = list(argv), dict(env)
    kwargs: dict[str, object] = {}
    if spec.user is not None:
        import pwd

        try:
            entry = pwd.getpwnam(spec.user)
        except KeyError:
            raise SpawnError(f"unknown user {spec.user!r}") from None
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid,
                  "extra_groups": os.getgrouplist(spec.user, entry.pw_gid)}
        env.setdefault("HOME", entry.pw_dir)
        env["USER"] = env["LOGNAME"] = spec.user
    try:
        popen = subprocess.Popen(argv, env=env, cwd=spec.cwd, stdin=subprocess.DEVNULL, stdout=out_fd,
                                 stderr=out_fd, start_new_session=True, pass_fds=spec.pass_fds,
                                 **kwargs)  # type: ignore[call-overload]
    except OSError as exc:
        where = f" in {spec.cwd}" if spec.cwd else ""
        raise SpawnError(f"cannot run {argv[0]!r}{where}: {exc.strerror}") from None
    # reaped by our pidfd watcher; keep Popen from trying again on garbage collection
    popen.returncode = 0
    return popen.pid


def _watch_exit(fds: fdwatch.FdWatch, pid: int, done: asyncio.Future[int]) -> None:
    pidfd = os.pidfd_open(pid)

    def on_exit() -> None:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            got, status = pid, None
        if got == 0:  # readable means exited; be safe against a spurious wake-up
            return
        fds.remove(pidfd)
        os.close(pidfd)
        if not done.done():
            done.set_result(255 if status is None else os.waitstatus_to_exitcode(status))

    fds.add(pidfd, on_exit)
