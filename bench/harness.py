"""Measurement plumbing shared by every scheduler under test.

Lateness is always *process start minus due instant*, read from the stamps that the
started processes write themselves (``stamp.c``), so every scheduler is measured by the
same clock and the same code. Process costs come from ``/proc/<pid>`` of the scheduler
process alone (its own CPU, not its children's; its peak RSS, ``VmHWM``).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def build_stamp(workdir: Path) -> list[str]:
    """Compile ``stamp.c`` into ``workdir``; return the argv prefix that stamps.

    The prefix is followed by ``FILE JOB``. Without a C compiler, a ``sh`` one-liner
    stands in (slower to start, but the same for every scheduler in the run).
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    out = workdir / "stamp"
    if cc:
        # static when possible: no dynamic loader work between exec and the clock read
        for extra in (["-static"], []):
            done = subprocess.run([cc, "-O2", *extra, "-o", str(out), str(HERE / "stamp.c")],
                                  capture_output=True)
            if done.returncode == 0:
                return [str(out)]
    script = 'echo "$2 $(date +%s.%N) ${CRONFLOW_NOMINAL_TIME:--} $$" >> "$1"'
    return ["/bin/sh", "-c", script, "stamp"]


# --- /proc readings -------------------------------------------------------------------

def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of process ``pid`` itself (all its threads), in seconds; with
    ``children``, plus that of the children it has reaped (a daemon's parse workers)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name may hold spaces: the fields after it start past the last ')'
    fields = stat[stat.rindex(")") + 2:].split()
    own = int(fields[11]) + int(fields[12])
    return (own + (int(fields[13]) + int(fields[14]) if children else 0)) / CLK_TCK


def status_field(pid: int, name: str) -> int:
    """An integer field of ``/proc/<pid>/status`` (kB for memory fields)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def wakeups(pid: int) -> int:
    """Context switches summed over every thread of ``pid``: each one is a wake-up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:  # a thread that just ended
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


# --- stamps and lateness ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stamp:
    job: str
    start: float  # epoch seconds
    due: float  # the due instant this start belongs to


def read_stamps(path: Path) -> list[Stamp]:
    """Parse a stamp file. The due instant is the nominal time the scheduler passed when
    it passed one, else the second the process started in (the peers fire on whole
    seconds, and a start more than a second late shows up as a missed fire)."""
    if not path.exists():
        return []
    stamps = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        start = float(parts[1])
        if parts[2] != "-":
            due = datetime.fromisoformat(parts[2].replace("Z", "+00:00")).timestamp()
        else:
            due = float(math.floor(start))
        stamps.append(Stamp(parts[0], start, due))
    return stamps


@dataclass(frozen=True, slots=True)
class FireStats:
    """One scheduler at one N: lateness percentiles (ms), counts, process costs."""

    scheduler: str
    n: int
    p50: float
    p99: float
    max: float
    expected: int
    missed: int
    duplicates: int
    cpu: float
    rss_mb: float
    # median over the window's due seconds of the first start in each (ms): how soon
    # after its instant a burst starts anything
    first: float = math.nan

    @property
    def cpu_per_run(self) -> float:
        """The scheduler's CPU per fire started in the window (ms)."""
        started = self.expected - self.missed
        return self.cpu / started * 1000 if started > 0 else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fire_stats(scheduler: str, n: int, stamps: Sequence[Stamp], window: tuple[int, int],
               cpu: float, rss_kb: int) -> FireStats:
    """Reduce the stamps whose due instant lies in ``[window)`` (whole epoch seconds)."""
    lo, hi = window
    seen: set[tuple[str, float]] = set()
    late: list[float] = []
    first: dict[float, float] = {}
    duplicates = 0
    for s in stamps:
        if not lo <= s.due < hi:
            continue
        key = (s.job, s.due)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        late.append((s.start - s.due) * 1000)
        first[s.due] = min(first.get(s.due, math.inf), late[-1])
    expected = n * (hi - lo)
    return FireStats(scheduler, n, percentile(late, 50), percentile(late, 99),
                     max(late, default=math.nan), expected, expected - len(seen), duplicates,
                     cpu, rss_kb / 1024, percentile(list(first.values()), 50))


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def sleep_until(epoch: float) -> None:
    """Sleep until the wall-clock instant ``epoch`` (no-op if it has passed)."""
    delay = epoch - time.time()
    if delay > 0:
        time.sleep(delay)


def measure_fires(scheduler: str, pid: int, n: int, stamp_file: Path, seconds: int,
                  first_fire_timeout: float = 30.0) -> FireStats:
    """Measure a running scheduler that fires ``n`` jobs every second into ``stamp_file``.

    Waits for its first stamp, lets one more second pass as warm-up, then takes a window
    of ``seconds`` whole due seconds. CPU is read over exactly that many wall seconds,
    each covering one batch of fires; late starts get two seconds' grace after the window.
    """
    if not wait_for(lambda: stamp_file.exists() and stamp_file.stat().st_size > 0,
                    first_fire_timeout):
        raise RuntimeError(f"{scheduler}: no process started within {first_fire_timeout:.0f} s")
    lo = math.ceil(time.time()) + 1
    hi = lo + seconds
    sleep_until(lo - 0.5)
    cpu0 = cpu_seconds(pid)
    sleep_until(hi - 0.5)
    cpu1 = cpu_seconds(pid)
    sleep_until(hi + 2.0)
    rss = status_field(pid, "VmHWM")
    return fire_stats(scheduler, n, read_stamps(stamp_file), (lo, hi), cpu1 - cpu0, rss)


# --- output ----------------------------------------------------------------------------

def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: text in the first and last columns, numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(c).rjust(w) for c, w in zip(row[1:-1], widths[1:-1])]
        cells.append(str(row[-1]).ljust(widths[-1]))
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])
