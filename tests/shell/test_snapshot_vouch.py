"""What the daemon's snapshot writer vouches for (each definition's ``file_stamp``, under
the racy rule) and what the CLI compares (:func:`listsnapshot.vouched`): real files, the
real loader, a writer on a bare table."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from cronflow.shell.daemon.snapshot import RACY, SnapshotWriter, _Known
from cronflow.shell.files import file_stamp, unpacked_stamp
from cronflow.shell.listsnapshot import vouched
from cronflow.shell.loader import load_paths
from daemon_helpers import wait_for

JOB = 'schedule = "0 3 * * *"\ncommand = ["true"]\n'


def writer(state: Path) -> SnapshotWriter:
    state.mkdir(exist_ok=True)
    return SnapshotWriter(SimpleNamespace(on_loaded=None), state, logger=logging.getLogger("test"))


def loaded(path: Path):
    result = load_paths([path], now=datetime.now(timezone.utc), default_timezone="UTC")
    (definition,) = result.definitions.values()
    return definition


def settled(path: Path) -> bool:
    """Whether the file's last change lies RACY s back (its stamp can no longer repeat)."""
    info = path.stat()
    return time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) >= RACY * 1e9 + 1e8


def no_read(*args: object) -> bool:
    raise AssertionError("the file was read again")


def test_a_file_changed_before_the_daemon_started_is_vouched_for_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "a.toml"
    path.write_text(JOB)
    wait_for(lambda: settled(path), timeout=5, message="the file to settle")
    made = writer(tmp_path / "state")  # the daemon's: made before its table reads a file
    definition = loaded(path)
    monkeypatch.setattr(SnapshotWriter, "_same_bytes", staticmethod(no_read))
    assert made._vouch(str(path), definition, None) == list(unpacked_stamp(definition.file_stamp))
    assert tuple(made._vouch(str(path), definition, None)) == file_stamp(path.stat())


def test_a_racy_stamp_is_not_trusted_and_a_later_look_reads_the_file(tmp_path):
    made = writer(tmp_path / "state")
    path = tmp_path / "a.toml"
    path.write_text(JOB)  # changed after the daemon started: within RACY of the read
    definition = loaded(path)
    assert made._vouch(str(path), definition, None) is None
    wait_for(lambda: settled(path), timeout=5, message="the file to settle")
    # looked at again: stat-ed, read, the same bytes as loaded
    assert made._vouch(str(path), definition, None) == list(file_stamp(path.stat()))


def test_a_file_changed_after_its_read_is_not_vouched_for(tmp_path):
    made = writer(tmp_path / "state")
    path = tmp_path / "a.toml"
    path.write_text(JOB)
    definition = loaded(path)
    path.write_text(JOB.replace("0 3", "0 4"))  # same size, other bytes: the reload follows
    wait_for(lambda: settled(path), timeout=5, message="the file to settle")
    assert made._vouch(str(path), definition, None) is None


def test_a_version_vouched_for_before_vouches_for_its_read_again(tmp_path, monkeypatch):
    made = writer(tmp_path / "state")
    path = tmp_path / "a.toml"
    path.write_text(JOB)
    definition = loaded(path)  # racy against the writer's start, as after an edit
    before = _Known(source=None, member="", definition=None, name="a", text=None, upcoming=None,
                    stamp=list(unpacked_stamp(definition.file_stamp)), failed=None)
    monkeypatch.setattr(SnapshotWriter, "_same_bytes", staticmethod(no_read))
    # (a SIGHUP reads every file again: the stamp it read is the one vouched for)
    assert made._vouch(str(path), loaded(path), before) == list(unpacked_stamp(definition.file_stamp))


def test_the_cli_compares_every_job_file_and_nothing_else(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for name in ("a", "b"):
        (jobs / f"{name}.toml").write_text(JOB)
    files = {name: list(file_stamp((jobs / name).stat())) for name in ("a.toml", "b.toml")}
    assert vouched(jobs, files)
    (jobs / ".hidden.toml").write_text(JOB)
    (jobs / "_draft.toml").write_text(JOB)
    (jobs / "notes.txt").write_text("x")
    (jobs / "dir.toml").mkdir()
    assert vouched(jobs, files)  # none of these is a job file the daemon loads
    assert not vouched(jobs, {**files, "b.toml": None})  # a file not vouched for
    assert not vouched(jobs, {"a.toml": files["a.toml"]})  # a file added
    assert not vouched(jobs, {**files, "c.toml": files["a.toml"]})  # a file removed
    os.utime(jobs / "a.toml", ns=(0, 0))  # touched: its stamp is another
    assert not vouched(jobs, files)
    assert not vouched(tmp_path / "nosuch", files)


def test_the_files_part_is_cut_from_the_text_alone():
    from cronflow.core.present.snapshot import decode_files, encode_snapshot, file_member

    files = {'we"ird, "files": x.toml': [1, 2, 3, 4], "b.toml": None}
    entry = '[["a", "job"], [], "2026-12-03T00:00:00+00:00", 0.0]'
    text = encode_snapshot({"version": 1}, files, [entry], {"x.toml": ['e, "definitions": [']}).encode()
    assert decode_files(text) == files
    members = [file_member(name, stamp) for name, stamp in files.items()]
    assert encode_snapshot({"version": 1}, members, [entry], {}) == encode_snapshot({"version": 1}, files, [entry], {})
    assert decode_files(text[: text.find(b'"definitions"')]) is None  # torn
    assert decode_files(b"") is None
