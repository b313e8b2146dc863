"""``/metrics``: Prometheus text exposition of the history, in the names of the
cronflow-prometheus plugin's family (``cronflow_job_*``) and supercronic's style.

- ``cronflow_job_runs_total{job,state}``: runs (flow steps left out) by job and state,
  over the history the store keeps (retention trims it: scrapers see a reset then).
- ``cronflow_fire_lateness_seconds``: a histogram of how late scheduled runs started
  after their nominal fire time.
- ``cronflow_job_running{job}``: runs queued, running or retrying now.
- ``cronflow_daemon_up``: 1 when a daemon serves the state directory.
"""

from __future__ import annotations

from typing import Any

from cronflow.web.state import Dirs, daemon_up

BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def render(dirs: Dirs) -> str:
    """The metrics text of ``dirs`` (what the history says kept until the database
    changes: the lateness histogram reads every scheduled run)."""
    lines = ["# HELP cronflow_daemon_up Whether a cronflow daemon serves the state directory.",
             "# TYPE cronflow_daemon_up gauge", f"cronflow_daemon_up {int(daemon_up(dirs))}"]
    return "\n".join(lines) + "\n" + dirs.cache.get("metrics", ("state",), lambda: _history(dirs))


def _history(dirs: Dirs) -> str:
    lines: list[str] = []
    store = dirs.store()
    counts: list[tuple[str, str, int]] = []
    running: dict[str, int] = {}
    late: tuple[Any, ...] = (0,) * (len(BUCKETS) + 2)
    if store is not None:
        try:
            db = store._db  # read-only aggregate queries the Store has no method for
            with store._lock:
                counts = db.execute("SELECT job, state, count(*) FROM runs WHERE kind != 'step' "
                                    "GROUP BY job, state ORDER BY job, state").fetchall()
                # the histogram in SQL: one pass over the runs, no row reaches Python
                sums = ", ".join(f"sum(v <= {bound})" for bound in BUCKETS)
                late = db.execute(
                    f"SELECT {sums}, count(v), coalesce(sum(v), 0) FROM (SELECT (julianday(started) - "
                    "julianday(nominal)) * 86400.0 AS v FROM runs WHERE trigger = 'schedule' AND started IS NOT NULL "
                    "AND nominal IS NOT NULL AND kind != 'step')").fetchone()
            running = store.running_jobs()
        finally:
            store.close()
    lines += ["# HELP cronflow_job_runs_total Runs in the history by job and state.",
              "# TYPE cronflow_job_runs_total counter"]
    lines += [f'cronflow_job_runs_total{{job="{_label(job)}",state="{state}"}} {n}' for job, state, n in counts]
    lines += ["# HELP cronflow_job_running Runs of the job queued, running or retrying.",
              "# TYPE cronflow_job_running gauge"]
    lines += [f'cronflow_job_running{{job="{_label(job)}"}} {n}' for job, n in sorted(running.items())]
    lines += ["# HELP cronflow_fire_lateness_seconds How late scheduled runs started after their fire time.",
              "# TYPE cronflow_fire_lateness_seconds histogram"]
    for bound, count in zip(BUCKETS, late):
        lines.append(f'cronflow_fire_lateness_seconds_bucket{{le="{bound}"}} {count or 0}')
    count, total = late[len(BUCKETS)], late[len(BUCKETS) + 1]
    lines.append(f'cronflow_fire_lateness_seconds_bucket{{le="+Inf"}} {count or 0}')
    lines.append(f"cronflow_fire_lateness_seconds_sum {float(total or 0):.6f}")
    lines.append(f"cronflow_fire_lateness_seconds_count {count or 0}")
    return "\n".join(lines) + "\n"
