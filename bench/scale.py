"""cronflow at scale: one daemon on N job files (default 100,000), then a 1,000-job burst.

    .venv/bin/python bench/scale.py                  # 100,000 files, about 5 minutes
    .venv/bin/python bench/scale.py --jobs 10000
    .venv/bin/python bench/scale.py --jobs 10000 --only load    # or --only burst
    .venv/bin/python bench/scale.py --keep DIR       # generate into DIR (kept; reused if there)

The jobs dir is the realistic mix of :mod:`scalejobs` (none of it due during the run).
Figures, each against its issue 18 target (PASS/MISS): start to READY=1, peak RSS
(VmHWM), how long after READY=1 the first definitions snapshot is written (and its CPU),
then idle CPU and context switches over 20 s, one changed file applied (the
bisecting probe of :mod:`figures`), SIGHUP to READY=1 again, ``cronflow check`` and
``cronflow list`` wall times. Then the burst: 1,000 jobs due in the same second, with a
plain schedule, with ``jitter = "10s"`` and with ``H(s-s+9)`` seconds, each in a fresh
daemon: lateness p50/p99/max against each job's own due instant, and how far the starts
spread (first to last, and the most in any 100 ms).
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TypeVar

import figures
import harness
import peers
import scalejobs
from figures import Figure

IDLE_SECONDS = 20
T = TypeVar("T")
BURST = 1000
# issue 18: (ready s, peak RSS MB) per job count; between the two, the larger count's
TARGETS = {10_000: (1.0, 60.0), 100_000: (10.0, 400.0)}
# issue 18: `cronflow list` with a daemon running, per job count (as TARGETS)
LIST_TARGETS = {10_000: 0.3, 100_000: 2.0}
CHANGE_MS = figures.CHANGE_MS


def targets(count: int, table: dict[int, T] | None = None) -> T:
    """The target of ``table`` (default: the ready and RSS targets) for ``count`` files."""
    table = TARGETS if table is None else table  # type: ignore[assignment]
    for limit in sorted(table):
        if count <= limit:
            return table[limit]
    return table[max(table)]


def prepare(jobs: Path, count: int) -> str:
    """The mix of ``count`` files in ``jobs`` (kept from an earlier run with ``--keep`` if
    it holds as many), plus the change probes; a one-line summary."""
    if jobs.is_dir() and sum(1 for p in jobs.glob("job*.toml")) == count:
        summary = "reused"
    else:
        if jobs.exists():
            shutil.rmtree(jobs)
        t0 = time.monotonic()
        kinds = scalejobs.write_mix(jobs, count)
        summary = f"{kinds['job']} jobs, {kinds['flow']} flows written in {time.monotonic() - t0:.1f} s"
    for k in range(figures.PROBES):
        (jobs / f"probe{k}.toml").write_text(figures.probe_text("0 0 1 1 *", ["true"]))
    # a daemon starts on files that exist, not on files written the instant before: those
    # its snapshot can vouch for only by reading them again (the racy rule, 1 s)
    time.sleep(1.1)
    return summary


def rss_mb(pid: int) -> float:
    return harness.status_field(pid, "VmHWM") / 1024


def first_snapshot(pid: int, state: Path, ready_at: float, ready_cpu: float) -> Figure:
    """How long after READY=1 (and how much CPU) the daemon's definitions snapshot took
    to vouch for every file (written, no file left to look at again): work done after
    READY, which the idle window must not count."""
    from cronflow.core.present.snapshot import SNAPSHOT_NAME, decode_files

    path = state / SNAPSHOT_NAME
    seen: dict[str, int] = {}

    def settled() -> bool:
        try:
            files = decode_files(path.read_bytes())
        except OSError:
            return False
        if files is None:
            return False
        seen.setdefault("first", sum(stamp is None for stamp in files.values()))
        return None not in files.values()

    found = harness.wait_for(settled, 120.0, interval=0.1)
    after, cpu = time.monotonic() - ready_at, harness.cpu_seconds(pid) - ready_cpu
    racy = f", {seen['first']} files looked at again" if seen.get("first") else ""
    value = f"{after:.2f} s (CPU {cpu:.2f} s{racy})" if found else "not settled in 120 s"
    return Figure("snapshot vouching for every file, after READY=1", value, "written", found)


def idle(pid: int, seconds: int) -> list[Figure]:
    """CPU and context switches over ``seconds`` while nothing is due (raw counts), from
    after the first snapshot is written (:func:`first_snapshot`): the steady state."""
    time.sleep(1.0)  # its rename and the last writes settle
    cpu0, wake0 = harness.cpu_seconds(pid), harness.wakeups(pid)
    time.sleep(seconds)
    cpu = harness.cpu_seconds(pid) - cpu0
    wake = harness.wakeups(pid) - wake0
    return [Figure(f"idle CPU over {seconds} s", f"{cpu:.2f} s", f"< {figures.IDLE_CPU_PER_MIN * seconds / 60:.3f} s",
                   cpu < figures.IDLE_CPU_PER_MIN * seconds / 60),
            Figure(f"idle context switches over {seconds} s", str(wake), "0", wake == 0)]


def reload_time(daemon: peers.Scheduler, notify: peers.NotifySocket, ready_s: float) -> Figure:
    """SIGHUP to READY=1 after RELOADING=1 (and the daemon's CPU over it)."""
    notify.drain()
    cpu0 = harness.cpu_seconds(daemon.pid)
    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGHUP)
    if notify.wait_for("RELOADING=1", 30.0) is None:
        return Figure("SIGHUP to READY=1", "no RELOADING=1 in 30 s", f"< {ready_s:g} s", False)
    done = notify.wait_for("READY=1", 120.0)
    if done is None:
        return Figure("SIGHUP to READY=1", "no READY=1 in 120 s", f"< {ready_s:g} s", False)
    cpu = harness.cpu_seconds(daemon.pid) - cpu0
    return Figure("SIGHUP to READY=1", f"{done - t0:.2f} s (CPU {cpu:.2f} s)", f"< {ready_s:g} s",
                  done - t0 < ready_s)


def load_figures(work: Path, jobs: Path, stamp: list[str], count: int, idle_s: int) -> list[Figure]:
    """Every figure of one daemon on the mix in ``jobs``."""
    ready_s, rss_target = targets(count)
    state = work / "state"
    if state.exists():
        shutil.rmtree(state)
    notify_path = work / "notify.sock"
    notify_path.unlink(missing_ok=True)
    notify = peers.NotifySocket(notify_path)
    out: list[Figure] = []
    total = count + figures.PROBES
    t0 = time.monotonic()
    daemon = peers.start_cronflow(work, jobs, state, notify)
    try:
        ready = notify.wait_for("READY=1", 300.0)
        if ready is None:
            tail = daemon.stderr_tail(3).replace("\n", " | ")
            return [Figure("start to READY=1", f"no READY=1 in 300 s ({tail})", f"< {ready_s:g} s", False)]
        cpu = harness.cpu_seconds(daemon.pid)
        workers = harness.cpu_seconds(daemon.pid, children=True) - cpu
        out.append(Figure(f"first start to READY=1, {total} files (empty state dir)", f"{ready - t0:.2f} s",
                          f"< {ready_s:g} s", ready - t0 < ready_s))
        # with no parse cache the files are parsed on every CPU (parseahead.py): the
        # daemon's own CPU, and its parse workers', beside the wall time above
        out.append(Figure("  CPU until READY=1: the daemon + its parse workers", f"{cpu:.2f} + {workers:.2f} s",
                          "", None))
        out.append(Figure("peak RSS at ready (VmHWM)", f"{rss_mb(daemon.pid):.0f} MB", f"< {rss_target:g} MB",
                          rss_mb(daemon.pid) < rss_target))
        out.append(first_snapshot(daemon.pid, state, ready, cpu))
        out += idle(daemon.pid, idle_s)
        lo, hi = figures.change_latency(jobs, stamp, work / "stamps")
        value = "not applied in 5 s" if math.isinf(hi) else f"{lo * 1000:.0f}-{hi * 1000:.0f} ms"
        out.append(Figure("one changed file applied", value, f"< {CHANGE_MS:g} ms", hi <= CHANGE_MS / 1000))
        out.append(reload_time(daemon, notify, ready_s))
        out.append(Figure("peak RSS after reload (VmHWM)", f"{rss_mb(daemon.pid):.0f} MB",
                          f"< {rss_target:g} MB", rss_mb(daemon.pid) < rss_target))
        env = peers.cronflow_env(jobs, state)
        argv = figures.cronflow_argv()
        list_s, done = figures.timed([*argv, "list"], env, 3)
        listed = figures.count_listed(argv, env) if done.returncode == 0 else None
        value = f"{list_s:.2f} s" + ("" if listed == total else f" (lists {listed} of {total})")
        list_target = targets(count, LIST_TARGETS)
        out.append(Figure(f"cronflow list, {total} jobs", value, f"< {list_target:g} s",
                          list_s < list_target and listed == total))
        cache_written(state)
    finally:
        daemon.stop()
        notify.close()
    out += restart_figures(work, jobs, state, total, ready_s, rss_target)
    check_s, done = figures.timed([*figures.cronflow_argv(), "check", "--jobs-dir", str(jobs)],
                                  peers.cronflow_env(jobs, state), 1)
    last = (done.stdout.decode(errors="replace").strip().splitlines() or ["?"])[-1]
    out.append(Figure(f"cronflow check, {total} files", f"{check_s:.2f} s ({last})", "no errors",
                      done.returncode == 0))
    return out


def burst(root: Path, stamp: list[str], form: str, count: int = BURST) -> list[str]:
    """One daemon with ``count`` jobs due in the same second (``form`` as in
    :func:`scalejobs.write_burst`): a table row, or a row saying why not."""
    work = Path(tempfile.mkdtemp(prefix=f"burst-{form}-", dir=root))
    jobs, state, stamp_file = work / "jobs.d", work / "state", work / "stamps"
    at = scalejobs.burst_instant(8.0)
    scalejobs.write_burst(jobs, count, at, stamp, stamp_file, form=form)
    notify = peers.NotifySocket(work / "notify.sock")
    daemon = peers.start_cronflow(work, jobs, state, notify)
    try:
        if notify.wait_for("READY=1", 60.0) is None:
            return [form, "no READY=1", "", "", "", "", ""]
        if time.time() > at - 0.5:
            return [form, "ready too late for the burst", "", "", "", "", ""]
        spread = 10 if form != "plain" else 0
        harness.wait_for(lambda: len(harness.read_stamps(stamp_file)) >= count, at - time.time() + spread + 20)
        time.sleep(0.5)
    finally:
        daemon.stop()
        notify.close()
    stamps = [s for s in harness.read_stamps(stamp_file) if s.due >= at - 1]
    if not stamps:
        return [form, "no starts", "", "", "", "", ""]
    late = [(s.start - scalejobs.burst_due(s.job, s.due, form)) * 1000 for s in stamps]
    starts = sorted(s.start for s in stamps)
    peak = max(sum(1 for _ in _window(starts, i, 0.1)) for i in range(len(starts)))
    return [form, f"{len(stamps)}/{count}", f"{harness.percentile(late, 50):.0f}",
            f"{harness.percentile(late, 99):.0f}", f"{max(late):.0f}", f"{starts[-1] - starts[0]:.2f}",
            str(peak)]


def _window(starts: list[float], i: int, width: float):
    j = i
    while j < len(starts) and starts[j] - starts[i] < width:
        yield starts[j]
        j += 1


def cache_written(state: Path) -> None:
    """Wait (bounded) until the daemon's parse cache is on disk and no write of it is
    going on (it is written after READY, between fires)."""
    harness.wait_for(lambda: (state / "parse-cache.pickle").exists()
                     and not any(state.glob(".parse-cache.pickle.*.tmp")), 120.0)


def restart_figures(work: Path, jobs: Path, state: Path, total: int, ready_s: float,
                    rss_target: float) -> list[Figure]:
    """A second daemon on the first one's state dir: the parse cache warm (the files the
    first one saw changed, the probes, are parsed again)."""
    notify_path = work / "notify.sock"
    notify_path.unlink(missing_ok=True)
    notify = peers.NotifySocket(notify_path)
    t0 = time.monotonic()
    daemon = peers.start_cronflow(work, jobs, state, notify)
    try:
        ready = notify.wait_for("READY=1", 300.0)
        if ready is None:
            return [Figure("restart to READY=1", "no READY=1 in 300 s", f"< {ready_s:g} s", False)]
        cpu = harness.cpu_seconds(daemon.pid)
        rss = rss_mb(daemon.pid)
        log = daemon.stderr_path.read_text(errors="replace")
        found = re.search(r"(\d+) parsed, (\d+) from the parse cache", log)
        taken = f"{found[2]} cached, {found[1]} parsed" if found else "no load line"
        return [Figure(f"restart to READY=1 ({taken})", f"{ready - t0:.2f} s", f"< {ready_s:g} s",
                       ready - t0 < ready_s),
                Figure("  daemon CPU until READY=1", f"{cpu:.2f} s", f"< {ready_s:g} s", cpu < ready_s),
                Figure("peak RSS at ready (VmHWM)", f"{rss:.0f} MB", f"< {rss_target:g} MB", rss < rss_target)]
    finally:
        daemon.stop()
        notify.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="job files (default 100000)")
    parser.add_argument("--only", choices=["load", "burst"], help="run one part only")
    parser.add_argument("--idle", type=int, default=IDLE_SECONDS, help="idle window, seconds (default 20)")
    parser.add_argument("--keep", type=Path, help="generate the jobs dir here and keep it (reused when it "
                        "holds as many files)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cronflow-scale-") as tmp:
        root = Path(tmp)
        stamp = harness.build_stamp(root)
        if args.only in (None, "load"):
            jobs = args.keep if args.keep is not None else root / "jobs.d"
            print(f"cronflow scale: {args.jobs} files: {prepare(jobs, args.jobs)}", file=sys.stderr, flush=True)
            print(f"\ncronflow on {args.jobs} job files (a mix of forms; none due)\n")
            print(figures.table(load_figures(root, jobs, stamp, args.jobs, args.idle)), flush=True)
        if args.only in (None, "burst"):
            print(f"\n{BURST} jobs due in the same second (lateness against each job's own due instant, ms)\n")
            rows = [burst(root, stamp, form) for form in ("plain", "jitter", "hashed")]
            print(harness.format_table(["schedule", "started", "p50", "p99", "max", "spread s",
                                        "most in 100 ms"], rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
