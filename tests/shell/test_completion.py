"""Shell completion through click's real protocol: ``cronflow`` run in a subprocess with
``_CRONFLOW_COMPLETE``, ``COMP_WORDS`` and ``COMP_CWORD``, as bash/zsh/fish call it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest


def complete(words: str, *, cwd: Path, shell: str = "bash", env: dict[str, str] | None = None,
             ) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRONFLOW_")}
    environ.update(env or {})
    split = words.split(" ")
    environ.update({"_CRONFLOW_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
                    "COMP_CWORD": str(len(split) - 1)})
    proc = subprocess.run([sys.executable, "-m", "cronflow"], env=environ, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    # click prints an empty line when there is nothing to offer
    return [line for line in proc.stdout.splitlines() if line]


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    directory = tmp_path / "jobs.d"
    directory.mkdir()
    (directory / "backup.toml").write_text(
        'description = "Nightly backup"\ncommand = "true"\ntags = ["nightly", "disk"]\n')
    (directory / "bake.toml").write_text('name = "bake-bread"\ncommand = "true"\ntags = ["kitchen"]\n')
    (directory / "hello.toml").write_text('command = "true"\ntags = ["nightly"]\n')
    (directory / "etl.toml").write_text('[[steps]]\nname = "a"\ncommand = "true"\n')
    (directory / "_draft.toml").write_text('command = "true"\n')
    (directory / "broken.toml").write_text('command = "true\n')
    return directory


def names(lines: list[str]) -> list[str]:
    """Values out of bash_complete's ``type,value`` lines."""
    return [line.split(",", 1)[1] for line in lines]


def test_job_names_complete_for_run(jobs, tmp_path):
    env = {"CRONFLOW_JOBS_DIR": str(jobs)}
    assert names(complete("cronflow run ba", cwd=tmp_path, env=env)) == ["backup", "bake-bread"]
    # flows too, and files that do not parse still complete by their stem
    assert names(complete("cronflow run ", cwd=tmp_path, env=env)) == [
        "backup", "bake-bread", "broken", "etl", "hello"]


def test_the_jobs_dir_flag_is_respected(jobs, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "bar.toml").write_text('command = "true"\n')
    env = {"CRONFLOW_JOBS_DIR": str(jobs)}
    assert names(complete(f"cronflow force --jobs-dir {other} b", cwd=tmp_path, env=env)) == ["bar"]


def test_zsh_shows_descriptions(jobs, tmp_path):
    lines = complete("cronflow run back", cwd=tmp_path, shell="zsh",
                     env={"CRONFLOW_JOBS_DIR": str(jobs)})
    assert lines == ["plain", "backup", "Nightly backup"]


def test_tags_complete_for_pause(jobs, tmp_path):
    env = {"CRONFLOW_JOBS_DIR": str(jobs)}
    assert names(complete("cronflow pause --tag ", cwd=tmp_path, env=env)) == [
        "disk", "kitchen", "nightly"]
    assert names(complete("cronflow list --tag ni", cwd=tmp_path, env=env)) == ["nightly"]


def test_run_ids_complete_newest_first(jobs, tmp_path):
    from cronflow.model import Run, RunState
    from cronflow.shell.store import Store

    state = tmp_path / "state"
    store = Store.open(state)
    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for run_id, minute in (("ab12cd34ef567890", 1), ("ab99000000000000", 2), ("ff00000000000000", 3)):
        store.insert_run(Run(id=run_id, job="backup", state=RunState.SUCCEEDED, nominal=t.replace(minute=minute)),
                         created=t.replace(minute=minute))
    store.close()
    env = {"CRONFLOW_JOBS_DIR": str(jobs), "CRONFLOW_STATE_DIR": str(state)}
    assert names(complete("cronflow logs ab", cwd=tmp_path, env=env)) == [
        "ab99000000000000", "ab12cd34ef567890"]
    # nothing to complete without a history database, and none is created
    env["CRONFLOW_STATE_DIR"] = str(tmp_path / "none")
    assert complete("cronflow cancel a", cwd=tmp_path, env=env) == []
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o"), ("zsh", "compdef"),
                                           ("fish", "complete --no-files --command cronflow")])
def test_source_scripts_for_each_shell(tmp_path, shell, marker):
    environ = {**os.environ, "_CRONFLOW_COMPLETE": f"{shell}_source"}
    proc = subprocess.run([sys.executable, "-m", "cronflow"], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert marker in proc.stdout and "_CRONFLOW_COMPLETE" in proc.stdout
