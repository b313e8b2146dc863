"""A jobs dir and a state dir, and the CLI run on them: shared by the flow tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable


class Env:
    """A jobs dir and a state dir under ``tmp_path``, and the CLI run on them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.jobs = tmp_path / "jobs.d"
        self.state = tmp_path / "state"
        self.jobs.mkdir()

    def write(self, name: str, text: str) -> None:
        (self.jobs / f"{name}.toml").write_text(text)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cronflow", *args, "--jobs-dir", str(self.jobs), "--state-dir", str(self.state)]

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root,
                              env={**os.environ, "TMPDIR": str(self.root)})

    def runs(self, name: str) -> list[dict[str, Any]]:
        """``history NAME --json``, or [] while there is none yet."""
        result = self.cli("history", name, "--json")
        return json.loads(result.stdout) if result.returncode == 0 else []

    def history(self, name: str) -> list[dict[str, Any]]:
        """``history NAME --json``, which must succeed."""
        result = self.cli("history", name, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def last(self, name: str) -> dict[str, Any]:
        return self.history(name)[0]

    def poll(self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """The newest run of ``name`` once ``predicate`` holds for it."""
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = self.runs(name)
            if runs and predicate(runs[0]):
                return runs[0]
            time.sleep(0.1)
        raise AssertionError(f"timed out; last history of {name}: {runs}")

    def wait_for(self, name: str, state: str, timeout: float = 10) -> dict[str, Any]:
        """The newest run of ``name`` in ``state``, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [run for run in self.runs(name) if run["state"] == state]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"{name} never {state}: {self.runs(name)}")
