"""The first load's files parsed by forked workers (cronflow/shell/daemon/parseahead.py):
real forks of the test process parsing real files, and a real daemon on enough files to
use them. A worker's definitions are the parse's own (its errors too, at their lines);
a worker that dies, hangs or is refused hands its files back to the caller; it keeps
none of the caller's descriptors."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cronflow.errors import ConfigError
from cronflow.model import Job
from cronflow.shell.daemon import parseahead
from cronflow.shell.daemon.parseahead import ParseAhead, note_of, slices, workers_for
from cronflow.shell.loader import job_files, load_file

from daemon_helpers import Daemon

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
LOG = logging.getLogger("test-parse-ahead")


def test_slices_are_contiguous_in_order_and_the_first_weighted() -> None:
    paths = [f"p{i:03d}" for i in range(10)]
    assert slices(paths, 3) == [paths[0:3], paths[3:7], paths[7:10]]
    assert slices(paths, 2, first=0.25) == [paths[0:2], paths[2:10]]
    assert slices(paths, 1) == [paths]
    for parts in range(1, 8):
        for first in (0.5, 0.7, 1.0):
            cut = slices(paths * 100, parts, first=first)
            assert [p for part in cut for p in part] == paths * 100
            if parts > 1:
                assert max(map(len, cut[1:])) - min(map(len, cut[1:])) <= 1
                assert abs(len(cut[0]) - first * len(cut[1])) <= first + 1


def test_workers_only_for_enough_files_and_cpus() -> None:
    share = parseahead.MIN_SHARE
    assert workers_for(10 * share, 1) == 1
    assert workers_for(share, 8) == 1  # one share: the fork would cost what it saves
    assert workers_for(2 * share, 2) == 2
    assert workers_for(100 * share, 64) == parseahead.MAX_WORKERS


def write_files(jobs: Path, count: int, bad: dict[int, str] | None = None) -> list[str]:
    jobs.mkdir(exist_ok=True)
    for i in range(count):
        text = (bad or {}).get(i, f'schedule = "{i % 60} 3 * * *"\ncommand = ["echo", "{i}"]\ntags = ["t{i % 3}"]\n'
                                  '[retry]\nattempts = 2\n')
        (jobs / f"job{i:04d}.toml").write_text(text, encoding="utf-8")
    return [str(p) for p in job_files(jobs)]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.005)


def parse(path: str) -> Job:
    return load_file(path, now=NOW, default_timezone="UTC")


@pytest.fixture
def small_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parseahead, "MIN_SHARE", 10)
    # the threads other tests of this process left behind are not this test's: only
    # those started from here on count, by identity (a count from here would go wrong
    # when one of theirs ends meanwhile); the daemon itself is a process of its own,
    # checked below
    theirs = set(threading.enumerate()) - {threading.current_thread()}  # objects: an ident is reused
    monkeypatch.setattr(parseahead, "_threads", lambda: len(set(threading.enumerate()) - theirs))


@pytest.mark.usefixtures("small_shares")
def test_workers_hand_over_what_the_parse_gives(tmp_path: Path) -> None:
    bad = {25: 'schedule = "0 3 * * *"\ncommand = "true"\ntimeout = "soon"\n', 33: "command = [\n"}
    paths = write_files(tmp_path / "jobs", 40, bad)
    ahead = ParseAhead.start(paths, parse, state_dir=tmp_path, logger=LOG, cpus=2)
    assert ahead is not None and len(ahead.workers) == 1
    try:
        theirs = [path for share in ahead.theirs for path in share]
        assert all(ahead.take(path) is None for path in ahead.own)  # the caller's own slice
        # the worker's one chunk said: else the caller would take it back, as it has not begun
        assert parseahead._readable(ahead.workers[0].said, 30.0)
        for path in theirs:
            index = int(Path(path).stem[3:])
            if index in bad:
                with pytest.raises(ConfigError) as caught:
                    ahead.take(path)
                with pytest.raises(ConfigError) as direct:
                    parse(path)
                assert str(caught.value) == str(direct.value)
                continue
            taken = ahead.take(path)
            assert taken == parse(path)
            assert taken.file_stamp == parse(path).file_stamp and taken.file_hash == parse(path).file_hash
            assert taken.path is path  # the caller's string, not a copy
        assert ahead.taken == len(theirs) - 2
        assert "by 1 worker process" in note_of(ahead)
    finally:
        ahead.close()


@pytest.mark.usefixtures("small_shares")
def test_the_caller_takes_back_the_chunks_a_slow_worker_has_not_begun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(parseahead, "CHUNK", 4)
    bad = {37: "command = [\n"}
    paths = write_files(tmp_path / "jobs", 60, bad)
    here = os.getpid()

    def slow(path: str) -> Job:
        if os.getpid() != here:
            time.sleep(0.05)  # the worker: a CPU running at a fraction of the caller's speed
        return parse(path)

    ahead = ParseAhead.start(paths, slow, state_dir=tmp_path, logger=LOG, cpus=2)
    assert ahead is not None
    (worker,) = ahead.workers
    theirs = [path for share in ahead.theirs for path in share]
    assert len(theirs) > 8 * parseahead.CHUNK
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert parseahead._readable(worker.said, 30.0)  # the worker's first chunk
        for path in theirs:
            if int(Path(path).stem[3:]) in bad:
                with pytest.raises(ConfigError, match="job0037.toml:1"):
                    ahead.take(path)
                continue
            assert ahead.take(path) == parse(path)  # each file once, by one or the other
        assert 0 < ahead.taken < len(theirs) - len(bad)
        ahead.close()
    assert caplog.text == ""  # the worker stopped short of what was taken back, and ended well


@pytest.mark.usefixtures("small_shares")
def test_a_worker_that_dies_hands_its_files_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = write_files(tmp_path / "jobs", 30)

    def dies(path: str) -> Job:
        os._exit(3)

    ahead = ParseAhead.start(paths, dies, state_dir=tmp_path, logger=LOG, cpus=2)
    assert ahead is not None
    # its end seen (the pipe's end): a chunk it had not begun would be taken back, parsed here
    assert parseahead._readable(ahead.workers[0].said, 30.0)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        assert [ahead.take(path) for path in paths] == [None] * len(paths)
    assert "a parse worker failed (status 3)" in caplog.text
    ahead.close()


@pytest.mark.usefixtures("small_shares")
def test_a_worker_that_hangs_is_killed_and_its_files_handed_back(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parseahead, "MIN_WAIT", 0.3)
    monkeypatch.setattr(parseahead, "WAIT_FACTOR", 0.0)
    paths = write_files(tmp_path / "jobs", 30)

    def hangs(path: str) -> Job:
        time.sleep(60)
        raise AssertionError("woke up")

    ahead = ParseAhead.start(paths, hangs, state_dir=tmp_path, logger=LOG, cpus=2)
    assert ahead is not None
    (worker,) = ahead.workers
    pid = worker.pid
    # on its one chunk: else the caller would take the chunk back, and hang itself
    wait_for(lambda: parseahead._SLOT.unpack_from(worker.shared, parseahead._AT)[0] == 0)
    started = time.monotonic()
    assert ahead.take(paths[-1]) is None
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):  # killed and reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)
    ahead.close()


@pytest.mark.usefixtures("small_shares")
def test_a_worker_holds_none_of_the_callers_descriptors(tmp_path: Path) -> None:
    paths = write_files(tmp_path / "jobs", 30)
    held = os.open(tmp_path / "held", os.O_CREAT | os.O_WRONLY, 0o600)
    os.set_inheritable(held, True)

    def checks(path: str) -> Job:
        try:
            os.fstat(held)
        except OSError:
            return parse(path)
        raise ConfigError(path, 1, "the caller's descriptor is open in the worker")

    try:
        ahead = ParseAhead.start(paths, checks, state_dir=tmp_path, logger=LOG, cpus=2)
        assert ahead is not None
        assert parseahead._readable(ahead.workers[0].said, 30.0)  # its chunk is the worker's
        assert ahead.take(paths[-1]) == parse(paths[-1])
        ahead.close()
    finally:
        os.close(held)


@pytest.mark.usefixtures("small_shares")
def test_no_worker_with_one_cpu_or_another_thread(tmp_path: Path) -> None:
    paths = write_files(tmp_path / "jobs", 30)
    assert ParseAhead.start(paths, parse, state_dir=tmp_path, logger=LOG, cpus=1) is None
    ahead = ParseAhead.start(paths, parse, state_dir=tmp_path, logger=LOG, cpus=2)
    assert ahead is not None  # the same with two CPUs and no other thread
    ahead.close()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert ParseAhead.start(paths, parse, state_dir=tmp_path, logger=LOG, cpus=2) is None
    finally:
        stop.set()
        other.join()


def test_a_daemon_on_many_files_parses_with_a_worker_and_loses_nothing(tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("NEEDS 2 CPUS: the parse workers only start with a second CPU to run on")
    count = 2 * parseahead.MIN_SHARE
    bad_at = count - 5  # in the worker's slice
    jobs = tmp_path / "jobs.d"
    write_files(jobs, count, {bad_at: 'schedule = "0 3 * * *"\ncommand = "true"\nretries = 3\n'})
    (jobs / f"job{count - 3:04d}.toml").chmod(0o666)  # refused by cron's rule, also there
    with Daemon(tmp_path) as daemon:
        log = daemon.log()
        assert f"{count - 2} jobs and flows from {count} files" in log, log
        assert "by 1 worker process" in log
        assert f"job{bad_at:04d}.toml:3: unknown key 'retries'" in log
        assert f"job{count - 3:04d}.toml" in log and "writable" in log
        rows = json.loads(daemon.cli("list", "--json").stdout)
        by_name = {row["name"]: row for row in rows}
        assert len(by_name) == count
        assert by_name[f"job{bad_at:04d}"]["error"]
        assert by_name[f"job{count - 1:04d}"]["schedule"] == "59 3 * * *"
        assert "Traceback" not in daemon.log()
