"""The web dashboard under load (issue 14): answer times on a big state, and whether API
traffic moves the daemon's fire lateness.

    .venv/bin/python bench/web.py                 # 10,000 jobs, 100,000 runs; 30 s windows
    .venv/bin/python bench/web.py --quick         # 10 s windows
    .venv/bin/python bench/web.py --only answers  # or --only lateness

1. answers: a daemon and ``cronflow web`` on 10,000 job files and 100,000 finished runs
   (bench/web_fixture.py); each path asked 50 times in a row over one keep-alive
   connection after one cold request; median, p95 and the cold one. Target: ``/`` and
   ``/api/v1/runs?limit=50`` under 200 ms.
2. lateness: a daemon with 100 jobs due every second (the stamp program of run.py) and
   ``cronflow web`` on its state; the fire lateness p99 over two quiet windows (their
   difference is the run-to-run spread), then over one window while 200 requests/s hit
   the API (``/api/v1/runs?limit=50``, ``/api/v1/jobs``, ``/healthz`` in turn).
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import peers  # noqa: E402
from web_fixture import build  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Web:
    """A ``cronflow web`` process; ``token`` and ``port`` once it listens."""

    def __init__(self, jobs: Path, state: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._out = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cronflow", "web", "--listen", f"127.0.0.1:{self.port}",
                                      "--jobs-dir", str(jobs), "--state-dir", str(state)],
                                     stdout=self._out, stderr=subprocess.STDOUT)
        if not harness.wait_for(lambda: "cronflow web: " in log.read_text(), 30):
            raise RuntimeError(f"cronflow web did not start: {log.read_text()[-500:]}")
        self.token = (state / "web.token").read_text().strip()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cookie(self) -> dict[str, str]:
        conn = self.connection()
        conn.request("GET", f"/?token={self.token}")
        answer = conn.getresponse()
        answer.read()
        return {"Cookie": answer.getheader("Set-Cookie").split(";")[0]}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self._out.close()


def timed(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        raise RuntimeError(f"{path}: {answer.status}")
    return (time.perf_counter() - start) * 1000


def answers(root: Path, jobs: int, runs: int) -> list[list[str]]:
    jobs_dir, state = build(root, jobs, runs)
    daemon = peers.start_cronflow(root, jobs_dir, state)
    try:
        if not harness.wait_for(lambda: "daemon ready" in daemon.stderr_path.read_text(errors="replace"), 60):
            raise RuntimeError(f"the daemon did not start: {daemon.stderr_tail()}")
        web = Web(jobs_dir, state, root / "web.log")
        try:
            rows = []
            for path, headers in (("/", web.cookie()), ("/api/v1/runs?limit=50", web.headers()),
                                  ("/api/v1/jobs", web.headers()), ("/metrics", web.headers())):
                conn = web.connection()
                cold = timed(conn, path, headers)
                times = [timed(conn, path, headers) for _ in range(50)]
                target = "< 200 ms" if path in ("/", "/api/v1/runs?limit=50") else ""
                med = statistics.median(times)
                verdict = ("PASS" if med < 200 else "MISS") if target else ""
                rows.append([path, f"{med:.1f}", f"{harness.percentile(times, 95):.1f}", f"{cold:.0f}", target,
                             verdict])
                conn.close()
        finally:
            web.stop()
    finally:
        daemon.stop()
    return rows


def _load(web: Web, rate: float, stop: threading.Event, counts: list[int], threads: int = 8) -> list[threading.Thread]:
    paths = ["/api/v1/runs?limit=50", "/api/v1/jobs", "/healthz"]

    def worker(index: int) -> None:
        conn = web.connection()
        interval = threads / rate
        due = time.monotonic() + index * interval / threads
        n = index
        while not stop.is_set():
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            timed(conn, paths[n % len(paths)], web.headers())
            counts[index] += 1
            n += 1
            due += interval
        conn.close()

    started = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in started:
        thread.start()
    return started


def lateness(root: Path, n: int, seconds: int, rate: float) -> list[list[str]]:
    stamp = harness.build_stamp(root)
    rows = []
    daemon = peers.start_cronflow_fires(root, stamp, root / "stamps", n)
    try:
        web = Web(root / "jobs.d", root / "state", root / "web.log")
        try:
            quiet = [harness.measure_fires("cronflow", daemon.pid, n, root / "stamps", seconds) for _ in range(2)]
            for index, stats in enumerate(quiet, 1):
                rows.append([f"quiet {index}", "0", f"{stats.p50:.2f}", f"{stats.p99:.2f}", str(stats.missed)])
            stop = threading.Event()
            counts = [0] * 8
            # the clients stand for other systems: on this one machine they run niced, as
            # `cronflow web` does, so that both take only what the daemon leaves over
            os.nice(10)
            threads = _load(web, rate, stop, counts)
            begin, cpu0 = time.monotonic(), harness.cpu_seconds(web.proc.pid)
            loaded = harness.measure_fires("cronflow", daemon.pid, n, root / "stamps", seconds)
            elapsed, cpu = time.monotonic() - begin, harness.cpu_seconds(web.proc.pid) - cpu0
            stop.set()
            for thread in threads:
                thread.join(30)
            rows.append([f"{rate:.0f} req/s asked", f"{sum(counts) / elapsed:.0f}", f"{loaded.p50:.2f}",
                         f"{loaded.p99:.2f}", str(loaded.missed)])
            rows.append(["web server CPU", "", "", f"{cpu / elapsed * 100:.0f}% of a core, "
                         f"{cpu / max(sum(counts), 1) * 1000:.1f} ms/request", ""])
            spread = abs(quiet[0].p99 - quiet[1].p99)
            moved = loaded.p99 - max(q.p99 for q in quiet)
            rows.append(["verdict", "", "", f"moved {moved:+.2f} vs spread {spread:.2f}",
                         "PASS" if moved <= spread else "MISS"])
        finally:
            web.stop()
    finally:
        daemon.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s windows")
    parser.add_argument("--only", choices=["answers", "lateness"], default=None)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=100000)
    parser.add_argument("--n", type=int, default=100, help="jobs due every second in the lateness part")
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)
    seconds = 10 if args.quick else 30
    with tempfile.TemporaryDirectory(prefix="cronflow-web-bench-") as tmp:
        if args.only in (None, "answers"):
            rows = answers(Path(tmp) / "answers", args.jobs, args.runs)
            print(f"cronflow web on {args.jobs} job files and {args.runs} runs (ms)\n")
            print(harness.format_table(["path", "median", "p95", "cold", "target", "result"], rows))
            print()
        if args.only in (None, "lateness"):
            (Path(tmp) / "lateness").mkdir()
            rows = lateness(Path(tmp) / "lateness", args.n, seconds, args.rate)
            print(f"fire lateness of {args.n} jobs due every second, {seconds} s windows (ms)\n")
            print(harness.format_table(["window", "req/s", "p50", "p99", "missed"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
