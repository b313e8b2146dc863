"""The local process of one attempt of a Ray run: ``python -m cronflow_ray.watcher``.

cronflow starts it in place of the job's command (:meth:`cronflow_ray.RayExecutor.command`),
so it is the run's process: it holds the job's lock (inherited), and its output is the
run's log. It

1. submits the command (``--`` ARGV, as one shell-quoted entrypoint) with the submission
   id it is given; when that id is taken (the same attempt started twice) it attaches to
   the Ray job already there instead of submitting another;
2. streams the Ray job's log to its stdout as it comes;
3. exits with the remote command's exit code;
4. on SIGTERM (a timeout, a cancel, a daemon shutting down) stops the Ray job, waits
   until the cluster says it stopped, and exits 143;
5. when the cluster cannot be reached, or goes away before the job's end is known, prints
   one line saying so and exits :data:`cronflow_ray.EXECUTOR_EXIT` (the run is recorded
   ``failed``, reason ``executor``, and retried by the job's retry policy);
6. when the daemon that started it died meanwhile (it was re-parented), leaves its exit
   status beside the run's log (:mod:`cronflow.shell.process.exitfile`) for the daemon
   that adopts the run, so that the run ends with its real state rather than ``lost``.

Its own lines start with ``cronflow-ray:``. Every call to the cluster has a deadline, so
a cluster that stops answering cannot hold the watcher (and the job's lock) forever.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cronflow.shell.process import exitfile
from cronflow_ray import EXECUTOR_EXIT

T = TypeVar("T")

TERMINATED = 128 + signal.SIGTERM
# how long one request to the cluster may take before it counts as unreachable
REQUEST_DEADLINE = 30.0
# after the log stream broke: how long the cluster gets to say how the job ended
STATUS_GRACE = 5.0
# after stop_job: how long to wait for the cluster to report the job stopped (Ray sends
# SIGTERM, then SIGKILL after RAY_JOB_STOP_WAIT_TIME_S, 3 s by default)
STOP_WAIT = 20.0
POLL = 0.25


class Unavailable(Exception):
    """The cluster did not answer (refused, reset, timed out) or answered an error."""


class _Output:
    """The run's log (our stdout): the remote output as it comes, and our own lines, each
    starting on a line of its own even when the remote output's last line had no end."""

    def __init__(self) -> None:
        self.at_line_start = True

    def write(self, data: bytes) -> None:
        if data:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            self.at_line_start = data.endswith(b"\n")

    def say(self, text: str) -> None:
        self.write(("" if self.at_line_start else "\n").encode() + f"cronflow-ray: {text}\n".encode())


OUTPUT = _Output()


def say(text: str) -> None:
    """One line of the watcher's own in the run's log."""
    OUTPUT.say(text)


def exit_status(code: int | None) -> int:
    """A remote exit code as a process exit status (a signal's negative code as 128+n)."""
    if code is None:
        return EXECUTOR_EXIT
    return 128 - code if code < 0 else code & 0xFF


class Watcher:
    """One attempt: submit (or attach), stream, wait, stop on request."""

    def __init__(self, *, config: dict[str, Any], submission_id: str, entrypoint: str,
                 env_vars: dict[str, str]) -> None:
        self.config = config
        self.submission_id = submission_id
        self.entrypoint = entrypoint
        self.env_vars = env_vars
        self.stop = asyncio.Event()
        self.client: Any = None

    async def call(self, fn: Callable[..., T], *args: Any, deadline: float = REQUEST_DEADLINE,
                   **kwargs: Any) -> T:
        """``fn(*args)`` (a blocking Ray SDK call) in a thread, with a deadline;
        ``Unavailable`` for any failure."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), deadline)
        except asyncio.TimeoutError:
            raise Unavailable(f"no answer within {deadline:g}s") from None
        except Exception as exc:
            raise Unavailable(_first_line(exc)) from exc

    async def run(self) -> int:
        """The attempt; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stop.set)
        address = self.config["address"]
        try:
            from ray.job_submission import JobSubmissionClient

            self.client = await self.call(JobSubmissionClient, address)
        except Unavailable as exc:
            say(f"cannot reach the Ray cluster at {address}: {exc}")
            return EXECUTOR_EXIT
        try:
            await self.submit()
        except Unavailable as exc:
            say(f"cannot submit to the Ray cluster at {address}: {exc}")
            return EXECUTOR_EXIT
        if self.stop.is_set():
            return await self.stop_remote()
        return await self.follow()

    async def submit(self) -> None:
        """Submit the attempt, or attach to it when its submission id is already taken."""
        runtime_env = dict(self.config.get("runtime_env") or {})
        # CRONFLOW_EXECUTOR marks the remote process as the cluster's to stop, should it run
        # on this machine (cronflow's own stop would otherwise reach it by its run id)
        runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **self.env_vars,
                                   "CRONFLOW_EXECUTOR": "ray"}
        options: dict[str, Any] = {}
        for key, option in (("num_cpus", "entrypoint_num_cpus"), ("num_gpus", "entrypoint_num_gpus"),
                            ("memory", "entrypoint_memory"), ("resources", "entrypoint_resources")):
            if self.config.get(key):
                options[option] = self.config[key]
        try:
            await self.call(self.client.submit_job, entrypoint=self.entrypoint,
                            submission_id=self.submission_id, runtime_env=runtime_env,
                            metadata={"cronflow": "1"}, **options)
        except Unavailable as refused:
            # taken already (this attempt was started before): attach to it
            try:
                info = await self.call(self.client.get_job_info, self.submission_id)
            except Unavailable:
                raise refused from None
            say(f"Ray job {self.submission_id} was submitted already ({info.status}); attached to it")
            return
        say(f"submitted Ray job {self.submission_id} to {self.config['address']}")

    async def stream(self) -> None:
        """Copy the job's log to stdout until it ends (returns) or the stream breaks (raises)."""
        async for chunk in self.client.tail_job_logs(self.submission_id):
            OUTPUT.write(chunk.encode("utf-8", "replace"))

    async def outcome(self, broken: BaseException | None) -> int:
        """The exit status once the log stream ended (``broken``: it broke): the remote
        exit code as soon as the cluster reports the job terminal."""
        loop = asyncio.get_running_loop()
        # a stream that ended normally means the job ended: its status follows at once;
        # one that broke gives the cluster a short grace before it counts as gone
        deadline = loop.time() + STATUS_GRACE
        last: str | None = _first_line(broken) if broken is not None else None
        while not self.stop.is_set():
            try:
                info = await self.call(self.client.get_job_info, self.submission_id,
                                       deadline=max(1.0, deadline - loop.time()))
            except Unavailable as exc:
                last = str(exc)
            else:
                if info.status.is_terminal():
                    return self.ended(info)
                if broken is None:
                    # the log ended but the job has not: follow it again
                    return await self.follow(again=True)
            if loop.time() >= deadline:
                say(f"lost the Ray cluster at {self.config['address']} before job "
                    f"{self.submission_id} ended: {last}")
                return EXECUTOR_EXIT
            await asyncio.sleep(POLL)
        return await self.stop_remote()

    async def follow(self, *, again: bool = False) -> int:
        """Stream the job's log until it ends (its outcome) or SIGTERM (stop it);
        ``again``: a stream that ends once more without an end is itself a failure."""
        streaming = asyncio.ensure_future(self.stream())
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({streaming, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if self.stop.is_set():
            streaming.cancel()
            return await self.stop_remote()
        stopping.cancel()
        broken = streaming.exception()
        if again and broken is None:
            broken = RuntimeError("log stream ended again")
        return await self.outcome(broken)

    def ended(self, info: Any) -> int:
        """The exit status of a terminal job."""
        status = str(getattr(info.status, "value", info.status))
        if status == "SUCCEEDED":
            return 0
        code = getattr(info, "driver_exit_code", None)
        if status == "FAILED" and code is not None:
            return exit_status(code)
        if status == "STOPPED":
            say(f"Ray job {self.submission_id} was stopped on the cluster")
            return TERMINATED
        # failed without an exit code: the command never ran (runtime_env set-up, no
        # node with the resources asked for) or its supervisor was lost with its node
        say(f"Ray job {self.submission_id} {status.lower()}: {_first_line(info.message or 'no message')}")
        return EXECUTOR_EXIT

    async def stop_remote(self) -> int:
        """Stop the Ray job and wait until the cluster reports it terminal; 143."""
        say(f"stopping Ray job {self.submission_id}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT
        try:
            await self.call(self.client.stop_job, self.submission_id, deadline=STOP_WAIT)
            while loop.time() < deadline:
                status = await self.call(self.client.get_job_status, self.submission_id,
                                         deadline=max(1.0, deadline - loop.time()))
                if status.is_terminal():
                    say(f"Ray job {self.submission_id} {str(getattr(status, 'value', status)).lower()}")
                    return TERMINATED
                await asyncio.sleep(POLL)
            say(f"Ray job {self.submission_id} not stopped after {STOP_WAIT:g}s")
        except Unavailable as exc:
            say(f"could not stop Ray job {self.submission_id}: {exc}")
        return TERMINATED


def _first_line(value: object) -> str:
    text = str(value).strip() or type(value).__name__
    return text.splitlines()[0][:500]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cronflow_ray.watcher", description=__doc__.splitlines()[0])
    parser.add_argument("--submission-id", required=True)
    parser.add_argument("--config", required=True, help="the executor table as JSON")
    parser.add_argument("--env", default="", help="comma-separated names of variables to forward")
    parser.add_argument("--log-path", default=None,
                        help="the run's log: its exit status goes beside it when the daemon is gone")
    parser.add_argument("command", nargs="+", help="the job's argv, after --")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one attempt; the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # the SDK's INFO lines ("WebSocket closed ...") are noise in the run's log; its
    # warnings and errors stay
    logging.getLogger("ray").setLevel(logging.WARNING)
    names = [name for name in args.env.split(",") if name]
    watcher = Watcher(config=json.loads(args.config), submission_id=args.submission_id,
                      entrypoint=shlex.join(args.command),
                      env_vars={name: os.environ[name] for name in names if name in os.environ})
    # not asyncio.run: it would wait, at the end, for a request thread abandoned at its
    # deadline; the process exits instead (see __main__)
    parent = os.getppid()
    loop = asyncio.new_event_loop()
    code = loop.run_until_complete(watcher.run())
    if args.log_path and os.getppid() != parent:
        # the daemon that started us died: the one adopting the run learns its end here
        exitfile.write_status(args.log_path, code, "executor" if code == EXECUTOR_EXIT else None)
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # a request abandoned at its deadline may still hold a thread: do not wait for it
    os._exit(code)
