"""The example plugin's own tests, written with ``cronflow.testing`` as a plugin author
would: in-process on a fresh plugin manager, then end to end through a real
``cronflow run``. Run them with ``pytest examples/custom-plugin/tests`` once the package
is installed (``pip install ./examples/custom-plugin``)."""

from __future__ import annotations

import json
from pathlib import Path

import cronflow_example

from cronflow.testing import fake_run, harness, run_job


def test_logfile_writes_one_json_line_per_notification(tmp_path: Path) -> None:
    h = harness(example=cronflow_example)
    out = tmp_path / "n.jsonl"
    assert h.notify("logfile", "retry", fake_run(job="flaky", state="failed", exit_code=2, attempt=2), path=str(out))
    assert json.loads(out.read_text()) == {"event": "retry", "job": "flaky", "run_id": "0123456789abcdef",
                                           "state": "failed", "attempt": 2, "exit_code": 2}


def test_fibonacci_waits_grow_and_are_capped() -> None:
    h = harness(example=cronflow_example)
    assert h.retry_delays("fibonacci", 6, delay="10s", max_delay="45s") == [10.0, 10.0, 20.0, 30.0, 45.0, None]


def test_on_run_finish_appends_to_the_file_of_its_variable(tmp_path: Path, monkeypatch) -> None:
    h = harness(example=cronflow_example)
    h.hook("on_run_finish", run=fake_run())  # without the variable: nothing, no error
    monkeypatch.setenv("CRONFLOW_EXAMPLE_LOG", str(tmp_path / "runs.log"))
    h.hook("on_run_finish", run=fake_run(job="backup"))
    assert (tmp_path / "runs.log").read_text() == "backup 0123456789abcdef succeeded 0\n"


def test_hello_greets_with_the_configured_greeting() -> None:
    h = harness(example=cronflow_example, settings='[plugins.example]\ngreeting = "salut"\n')
    result = h.invoke("hello", "toi")
    assert (result.exit_code, result.output) == (0, "salut, toi!\n")
    assert harness(example=cronflow_example, settings="").invoke("hello").output == "hello, world!\n"


def test_a_failing_job_notifies_through_logfile_in_a_real_run(tmp_path: Path) -> None:
    out = tmp_path / "n.jsonl"
    job = (f'command = "exit 3"\n\n[retry]\npolicy = "fibonacci"\nattempts = 2\ndelay = "0.1s"\n\n'
           f'[[notify]]\nvia = "logfile"\non = ["retry", "failure"]\npath = "{out}"\n')
    result = run_job(job, name="flaky", root=tmp_path / "run")
    assert result.exit_code == 3, result.stderr
    assert result.state == "failed" and result.run is not None and result.run["attempt"] == 2
    assert [json.loads(line)["event"] for line in out.read_text().splitlines()] == ["retry", "failure"]
