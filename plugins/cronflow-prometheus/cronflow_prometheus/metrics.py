"""Per-job metrics: pure updates from runs, the exposition text, and reading it back.

The text is Prometheus' exposition format (version 0.0.4), as node_exporter's textfile
collector reads it: ``# HELP`` and ``# TYPE`` before each family, one sample per line.
Reading our own file back lets a restarted daemon keep the counters and the "last
success" times of jobs that have not run since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

STATES = ("succeeded", "failed", "timed_out", "cancelled", "lost", "skipped", "warning",
          "not_run")
OK_STATES = ("succeeded", "warning")

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("cronflow_job_last_run_timestamp_seconds", "gauge",
     "When the job's last run ended (Unix time)."),
    ("cronflow_job_last_success_timestamp_seconds", "gauge",
     "When the job's last successful run ended (Unix time)."),
    ("cronflow_job_last_duration_seconds", "gauge", "How long the job's last run took."),
    ("cronflow_job_last_exit_code", "gauge", "Exit code of the job's last run, when it had one."),
    ("cronflow_job_last_state", "gauge",
     "1 for the state the job's last run ended in, 0 for the others."),
    ("cronflow_job_runs_total", "counter", "Finished runs of the job, by final state."),
)
_SAMPLE = re.compile(r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\} (?P<value>\S+)\Z')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True, kw_only=True)
class JobMetrics:
    """What is known about one job's runs."""

    kind: str = "job"
    last_end: float | None = None
    last_success: float | None = None
    duration: float | None = None
    exit_code: int | None = None
    state: str | None = None
    counts: dict[str, float] = field(default_factory=dict)


Metrics = dict[str, JobMetrics]


def record(metrics: Metrics, run: Any) -> Metrics:
    """``metrics`` updated with one finished run (a new dict; the old one is untouched)."""
    state = str(getattr(run.state, "value", run.state))
    ended = run.ended.timestamp() if run.ended is not None else None
    old = metrics.get(run.job, JobMetrics())
    counts = dict(old.counts)
    counts[state] = counts.get(state, 0) + 1
    new = replace(old, kind=run.kind or "job", last_end=ended if ended is not None else old.last_end,
                  duration=run.duration, exit_code=run.exit_code, state=state, counts=counts)
    if state in OK_STATES and ended is not None:
        new = replace(new, last_success=ended)
    return {**metrics, run.job: new}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(metrics: Metrics) -> str:
    """The exposition text for every job, families in a fixed order, jobs sorted."""
    samples: dict[str, list[str]] = {name: [] for name, _, _ in FAMILIES}
    for job in sorted(metrics):
        m = metrics[job]
        base = f'job="{_escape(job)}",kind="{_escape(m.kind)}"'
        for name, value in (("cronflow_job_last_run_timestamp_seconds", m.last_end),
                            ("cronflow_job_last_success_timestamp_seconds", m.last_success),
                            ("cronflow_job_last_duration_seconds", m.duration),
                            ("cronflow_job_last_exit_code", m.exit_code)):
            if value is not None:
                samples[name].append(f"{name}{{{base}}} {_number(value)}")
        if m.state is not None:
            for state in sorted(set(STATES) | {m.state}):
                samples["cronflow_job_last_state"].append(
                    f'cronflow_job_last_state{{{base},state="{_escape(state)}"}} '
                    f"{1 if state == m.state else 0}")
        for state in sorted(m.counts):
            samples["cronflow_job_runs_total"].append(
                f'cronflow_job_runs_total{{{base},state="{_escape(state)}"}} '
                f"{_number(m.counts[state])}")
    lines: list[str] = []
    for name, kind, help_text in FAMILIES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


def parse(text: str) -> Metrics:
    """Read back a file written by :func:`render`; lines it does not know are ignored."""
    fields: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(match.group("labels"))}
        job = labels.get("job")
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        if job is None:
            continue
        entry = fields.setdefault(job, {"kind": labels.get("kind", "job"), "counts": {}})
        name = match.group("name")
        if name == "cronflow_job_runs_total" and "state" in labels:
            entry["counts"][labels["state"]] = value
        elif name == "cronflow_job_last_state" and value == 1 and "state" in labels:
            entry["state"] = labels["state"]
        elif name == "cronflow_job_last_exit_code":
            entry["exit_code"] = int(value)
        else:
            key = {"cronflow_job_last_run_timestamp_seconds": "last_end",
                   "cronflow_job_last_success_timestamp_seconds": "last_success",
                   "cronflow_job_last_duration_seconds": "duration"}.get(name)
            if key:
                entry[key] = value
    return {job: JobMetrics(**entry) for job, entry in fields.items()}
