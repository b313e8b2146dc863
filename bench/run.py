"""cronflow benchmarks against its peers, in one run on one machine.

    python bench/run.py            # full: N = 10, 100, 500 for 20 s each, 10,000-job figures
    python bench/run.py --quick    # the same with 5 s windows and 2,000 jobs
    python bench/run.py --only fires --n 10 --seconds 5
    python bench/run.py --only fires --n 10 --n 500 --rounds 3   # interleaved rounds: medians and spread

Prints two tables: fire lateness per scheduler and N (the floor, the floor doing cronflow's
per-process duties, APScheduler 3, cronflow),
then cronflow's own figures, each against its SPEC section 10 target (PASS/MISS).
With ``--rounds K`` the schedulers run in turn K times (floor, duties, APScheduler,
cronflow, then again), and the table shows each figure's median with its spread
(min-max over the rounds): one run is not what a user gets on average.
Run it with the interpreter cronflow is installed in (``.venv/bin/python``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness
import peers
from harness import FireStats

# SPEC section 10, raised by issue 18
P99_AT_10_MS = 10.0
FLOOR_FACTOR = 1.25
FIRST_SPAWN_MS = 3.0  # at N = 500, median


def run_one(name: str, start: Callable[[Path, list[str], Path, int], peers.Scheduler],
            stamp: list[str], n: int, seconds: int, root: Path) -> FireStats | str:
    """One scheduler at one N in a fresh directory; a reason string when it fails."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-{n}-", dir=root))
    stamp_file = workdir / "stamps"
    sched = start(workdir, stamp, stamp_file, n)
    try:
        return harness.measure_fires(name, sched.pid, n, stamp_file, seconds)
    except (RuntimeError, FileNotFoundError, ProcessLookupError) as exc:
        tail = sched.stderr_tail(3).replace("\n", " | ")
        return f"{exc}" + (f" ({tail})" if tail else "")
    finally:
        sched.stop()


def fires(ns: list[int], seconds: int, root: Path, stamp: list[str]) -> list[str | FireStats]:
    """Lateness for every N and scheduler, interleaved per N so machine drift hits all."""
    contenders: list[tuple[str, Callable[..., peers.Scheduler]]] = [
        ("floor", peers.start_floor), ("floor+duties", peers.start_floor_duties)]
    aps = peers.ensure_apscheduler()
    if isinstance(aps, Path):
        contenders.append(("apscheduler3",
                           lambda w, s, f, n: peers.start_apscheduler(w, s, f, n, aps)))
    if peers.cronflow_available():
        contenders.append(("cronflow", peers.start_cronflow_fires))
    results: list[str | FireStats] = []
    if isinstance(aps, str):
        results.append(f"apscheduler3: skipped, {aps}")
    if not peers.cronflow_available():
        results.append("cronflow: skipped, cronflow.shell.daemon.loop is not in this checkout")
    for n in ns:
        for name, start in contenders:
            print(f"  {name} N={n} ...", file=sys.stderr, flush=True)
            got = run_one(name, start, stamp, n, seconds, root)
            results.append(got if isinstance(got, FireStats) else f"{name} N={n}: {got}")
    return results


def verdict(stats: FireStats, by_key: dict[tuple[str, int], FireStats],
            every_round: dict[tuple[str, int], list[str]] | None = None) -> str:
    """PASS/MISS of cronflow's row against the targets (blank for the peers): SPEC
    section 10 as issue 18 raised it. ``every_round``: the misses of single rounds (a
    target that must hold in every round, see :func:`round_misses`)."""
    if stats.scheduler != "cronflow":
        return ""
    misses = list((every_round or {}).get((stats.scheduler, stats.n), []))
    if stats.missed or stats.duplicates:
        misses.append("missed/dup fires")
    if stats.n <= 10 and not stats.p99 < P99_AT_10_MS:
        misses.append(f"p99 >= {P99_AT_10_MS:g} ms")
    floor = by_key.get(("floor", stats.n))
    if stats.n > 10 and floor and not stats.p99 <= FLOOR_FACTOR * floor.p99:
        misses.append(f"p99 > {FLOOR_FACTOR}x floor")
    aps = by_key.get(("apscheduler3", stats.n))
    if aps and not stats.p99 <= aps.p99:
        misses.append("p99 behind APScheduler")
    if aps and stats.n >= 500 and not stats.cpu_per_run <= aps.cpu_per_run:
        misses.append("CPU per run above APScheduler's")
    if stats.n >= 500 and not stats.first <= FIRST_SPAWN_MS:
        misses.append(f"first spawn > {FIRST_SPAWN_MS:g} ms")
    return "PASS" if not misses else "MISS: " + ", ".join(misses)


def round_misses(rounds: list[list[str | FireStats]]) -> dict[tuple[str, int], list[str]]:
    """What cronflow missed in single rounds of the targets that hold in every round
    (issue 18): at N = 10 p99 under 10 ms; at N >= 500 p99 below APScheduler's."""
    misses: dict[tuple[str, int], list[str]] = {}
    for index, results in enumerate(rounds, 1):
        by_key = {(r.scheduler, r.n): r for r in results if isinstance(r, FireStats)}
        for (name, n), stats in by_key.items():
            if name != "cronflow":
                continue
            aps = by_key.get(("apscheduler3", n))
            if n <= 10 and not stats.p99 < P99_AT_10_MS:
                misses.setdefault((name, n), []).append(f"round {index}: p99 {stats.p99:.1f} ms")
            if n >= 500 and aps and not stats.p99 < aps.p99:
                misses.setdefault((name, n), []).append(f"round {index}: p99 not below APScheduler's")
    return misses


def median_of(rounds: list[list[str | FireStats]]) -> tuple[list[str | FireStats], dict[tuple[str, int], str]]:
    """One row per (scheduler, N) holding the median of each figure over the rounds, and
    the spread (min-max) of p99 per (scheduler, N); the notes of every round kept."""
    import statistics

    grouped: dict[tuple[str, int], list[FireStats]] = {}
    notes: list[str | FireStats] = []
    for results in rounds:
        for item in results:
            if isinstance(item, FireStats):
                grouped.setdefault((item.scheduler, item.n), []).append(item)
            elif item not in notes:
                notes.append(item)
    merged: list[str | FireStats] = []
    spread: dict[tuple[str, int], str] = {}
    for key, runs in grouped.items():
        def mid(field: str) -> float:
            return statistics.median(getattr(r, field) for r in runs)
        merged.append(FireStats(scheduler=key[0], n=key[1], p50=mid("p50"), p99=mid("p99"), max=mid("max"),
                                expected=int(mid("expected")), missed=max(r.missed for r in runs),
                                duplicates=max(r.duplicates for r in runs), cpu=mid("cpu"), rss_mb=mid("rss_mb"),
                                first=mid("first")))
        p99s = sorted(r.p99 for r in runs)
        spread[key] = f"{p99s[0]:.1f}-{p99s[-1]:.1f}"
    return merged + notes, spread


def fire_table(results: list[str | FireStats], seconds: int,
               spread: dict[tuple[str, int], str] | None = None,
               every_round: dict[tuple[str, int], list[str]] | None = None) -> str:
    stats = [r for r in results if isinstance(r, FireStats)]
    by_key = {(s.scheduler, s.n): s for s in stats}
    header = ["scheduler", "N", "first ms", "p50 ms", "p99 ms", "max ms", "p99/floor", "p99/duties", "fires",
              "missed", "dup", f"CPU s/{seconds}s", "CPU ms/run", "peak RSS MB", "target"]

    def ratio(s: FireStats, to: str) -> str:
        ref = by_key.get((to, s.n))
        return f"{s.p99 / ref.p99:.2f}x" if ref and ref.p99 > 0 else "-"

    if spread:
        header.insert(5, "p99 spread")
    rows = [[s.scheduler, str(s.n), f"{s.first:.2f}", f"{s.p50:.2f}", f"{s.p99:.2f}",
             *([spread.get((s.scheduler, s.n), "-")] if spread else []),
             f"{s.max:.2f}", ratio(s, "floor"), ratio(s, "floor+duties"), str(s.expected), str(s.missed),
             str(s.duplicates), f"{s.cpu:.2f}", f"{s.cpu_per_run:.3f}", f"{s.rss_mb:.1f}",
             verdict(s, by_key, every_round)] for s in stats]
    notes = [f"  note: {r}" for r in results if isinstance(r, str)]
    return "\n".join([harness.format_table(header, rows), *notes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, fewer jobs")
    parser.add_argument("--only", choices=["fires", "figures"], help="run one part only")
    parser.add_argument("--n", type=int, action="append", help="job counts (repeatable)")
    parser.add_argument("--seconds", type=int, help="measurement window per run")
    parser.add_argument("--jobs", type=int, help="job files for the figures (default 10000)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of the fire lateness "
                        "(medians and spread over them; default 1)")
    args = parser.parse_args(argv)
    ns = args.n or [10, 100, 500]
    seconds = args.seconds or (5 if args.quick else 20)
    many = args.jobs or (2000 if args.quick else 10000)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cronflow-bench-") as tmp:
        root = Path(tmp)
        stamp = harness.build_stamp(root)
        print(f"cronflow bench: stamp = {stamp[0]}, {seconds} s windows, "
              f"figures over {many} jobs", file=sys.stderr)
        if args.only in (None, "fires"):
            rounds = max(1, args.rounds)
            print(f"\nFire lateness: N jobs due every second, {seconds} s window "
                  "(process start minus due instant)"
                  + (f"; median of {rounds} interleaved rounds" if rounds > 1 else "") + "\n")
            measured = []
            for index in range(rounds):
                if rounds > 1:
                    print(f" round {index + 1} of {rounds}", file=sys.stderr, flush=True)
                measured.append(fires(ns, seconds, root, stamp))
            if rounds == 1:
                print(fire_table(measured[0], seconds), flush=True)
            else:
                merged, spread = median_of(measured)
                print(fire_table(merged, seconds, spread, round_misses(measured)), flush=True)
        if args.only in (None, "figures"):
            import figures

            print(f"\ncronflow figures ({many} job files)\n")
            print(figures.table(figures.measure_all(root, stamp, many, quick=args.quick)),
                  flush=True)
    print(f"\n(total {math.ceil(time.monotonic() - started)} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
