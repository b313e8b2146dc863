"""Every example passes ``cronflow check``; the backup and file-import examples run.

An example that ships a plugin package (a ``pyproject.toml``) is pip-installed into a
directory of its own first, as a user would install it, so jobs that use it check."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from daemon_helpers import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def job_files(example: Path) -> list[Path]:
    """The job and flow files of an example: its *.toml, bar packaging and ignored names."""
    return sorted(p for p in example.rglob("*.toml")
                  if p.name != "pyproject.toml" and not p.name.startswith((".", "_"))
                  and not any(part in ("build", "dist") or part.endswith(".egg-info")
                              for part in p.relative_to(example).parts))


EXAMPLE_DIRS = sorted(d for d in EXAMPLES.iterdir() if d.is_dir() and job_files(d))


def cronflow(*args: str, cwd: Path, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=cwd, env=env, timeout=120)


def install_packages(example: Path, target: Path) -> str:
    """pip-install the example's plugin packages into ``target``; the PYTHONPATH to use."""
    projects = sorted(p.parent for p in example.rglob("pyproject.toml"))
    for project in projects:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(target), str(project)],
                       check=True, capture_output=True, timeout=300)
    return os.pathsep.join(filter(None, [str(target) if projects else "",
                                         os.environ.get("PYTHONPATH", "")]))


def test_the_examples_we_promise_exist():
    names = {d.name for d in EXAMPLE_DIRS}
    assert {"backup", "file-import"} <= names


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[d.name for d in EXAMPLE_DIRS])
def test_example_passes_cronflow_check(example, tmp_path):
    files = job_files(example)
    pythonpath = install_packages(example, tmp_path / "site")
    proc = cronflow("check", *map(str, files), cwd=tmp_path, env={"PYTHONPATH": pythonpath})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.endswith(", no errors\n")


def test_example_has_a_readme():
    for example in EXAMPLE_DIRS:
        assert (example / "README.md").is_file(), example.name


def test_backup_example_runs_and_keeps_the_newest_archives(tmp_path):
    source = tmp_path / "documents"
    source.mkdir()
    (source / "notes.txt").write_text("remember the milk\n")
    dest = tmp_path / "backups"
    dest.mkdir()
    for stamp in ("20200101T000000Z", "20200102T000000Z"):
        (dest / f"documents-{stamp}.tar.gz").write_bytes(b"old")
    env = {"CRONFLOW_JOBS_DIR": str(EXAMPLES / "backup" / "jobs.d"),
           "CRONFLOW_STATE_DIR": str(tmp_path / "state")}
    proc = cronflow("run", "backup", "-p", f"source={source}", "-p", f"dest={dest}",
                    "-p", "keep=2", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archives = sorted(p.name for p in dest.iterdir())
    assert len(archives) == 2 and "documents-20200102T000000Z.tar.gz" in archives
    newest = next(dest / a for a in archives if not a.startswith("documents-2020"))
    with tarfile.open(newest) as tar:
        assert tar.extractfile("documents/notes.txt").read() == b"remember the milk\n"


def test_file_import_example_imports_the_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id,amount\n1,9.50\n2,12.00\n")
    (inbox / "b.csv").write_text("id,amount\n3,1.00\n")
    env = {"CRONFLOW_JOBS_DIR": str(EXAMPLES / "file-import" / "jobs.d"),
           "CRONFLOW_STATE_DIR": str(tmp_path / "state")}
    proc = cronflow("run", "import-orders", "-p", f"inbox={inbox}", "-p", f"done={inbox / 'done'}",
                    "-p", f"database={tmp_path / 'orders.csv'}", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "orders.csv").read_text() == "1,9.50\n2,12.00\n3,1.00\n"
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.csv", "b.csv"]
