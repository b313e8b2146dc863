"""The daemon's parse cache (cronflow/shell/daemon/parsecache.py) under a real daemon: a
restart takes the definitions of unchanged files from it and gives the same table; a file
edited while the daemon was stopped, a corrupt cache, a cache of another default zone or
of other pools: parsed again. The load's summary line says how many files were parsed."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from daemon_helpers import Daemon, wait_for

CACHE = "parse-cache.pickle"
JOBS = {
    "alpha": 'schedule = "0 3 * * *"\ncommand = "true"\ntags = ["a"]\n[env]\nX = "1"\n',
    "beta": 'schedule = ["*/5 * * * *", "H 4 * * *"]\ncommand = ["echo", "b"]\ntimeout = "5m"\n'
            '[retry]\npolicy = "exponential"\nattempts = 3\n',
    "flow": 'schedule = "0 5 * * *"\n[[steps]]\nname = "one"\njob = "alpha"\n'
            '[[steps]]\nname = "two"\nneeds = ["one"]\ncommand = "true"\n',
}
BAD = 'schedule = "0 3 * * *"\ncommand = "true"\npolicy = 3\n'


def write_jobs(daemon: Daemon) -> None:
    for name, text in JOBS.items():
        daemon.write_job(name, text)
    daemon.write_job("bad", BAD)
    settled(daemon.jobs_dir)


def settled(jobs_dir: Path) -> None:
    """Wait until every file's last change is over a second old: a stamp read sooner
    vouches for nothing (the racy rule), and the cache would not keep it."""
    newest = max(max(p.stat().st_mtime, p.stat().st_ctime) for p in jobs_dir.iterdir())
    wait_for(lambda: time.time() - newest > 1.1, timeout=5, interval=0.05, message="the files to settle")


def counts(daemon: Daemon, mark: int) -> tuple[int, int]:
    """(parsed, taken from the cache) of the start logged after byte ``mark``."""
    found = re.search(r"(\d+) parsed, (\d+) from the parse cache", daemon.log(since=mark))
    assert found, daemon.log(since=mark)
    return int(found[1]), int(found[2])


def cache_written(daemon: Daemon, after: float = 0.0) -> None:
    path = daemon.state_dir / CACHE
    wait_for(lambda: path.exists() and path.stat().st_mtime_ns > after, timeout=10,
             message="the parse cache to be written", on_timeout=daemon.log)


def listed(daemon: Daemon) -> list[dict]:
    """``cronflow list --json`` but the seconds to the next fire (they go by)."""
    return [{k: v for k, v in row.items() if k != "due_in"} for row in json.loads(daemon.cli("list", "--json").stdout)]


def restart(daemon: Daemon) -> int:
    daemon.stop()
    mark = daemon.log_path.stat().st_size
    daemon.start()
    return mark


def test_a_restart_takes_unchanged_files_from_the_cache_and_gives_the_same_table(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        before = listed(daemon)
        assert counts(daemon, 0) == (4, 0)
        mode = (daemon.state_dir / CACHE).stat().st_mode & 0o777
        assert mode == 0o600
        mark = restart(daemon)
        # the bad file is never cached: parsed again, its error at its line
        assert counts(daemon, mark) == (1, 3)
        assert listed(daemon) == before
        assert f"{daemon.jobs_dir / 'bad.toml'}:3:" in daemon.log(since=mark)
        assert "Traceback" not in daemon.log()


def test_a_file_edited_while_the_daemon_is_stopped_is_parsed_again(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        daemon.stop()
        path = daemon.jobs_dir / "alpha.toml"
        info = path.stat()
        # the same size and mtime: only the ctime (and the inode of a rename) tells
        with open(path, "r+", encoding="utf-8") as handle:
            handle.write(JOBS["alpha"].replace("0 3", "0 4"))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
        mark = daemon.log_path.stat().st_size
        daemon.start()
        assert counts(daemon, mark) == (2, 2)
        (alpha,) = [row for row in listed(daemon) if row["name"] == "alpha"]
        assert "0 4 * * *" in json.dumps(alpha)


def test_a_file_made_writable_by_others_is_refused_though_cached(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        daemon.stop()
        (daemon.jobs_dir / "beta.toml").chmod(0o666)
        mark = daemon.log_path.stat().st_size
        daemon.start()
        (beta,) = [row for row in listed(daemon) if row["name"] == "beta"]
        assert beta["error"] and "beta.toml" in beta["error"], beta
        assert "writable" in daemon.log(since=mark)


def test_a_corrupt_cache_is_ignored_and_written_again(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        before = listed(daemon)
        daemon.stop()
        cache = daemon.state_dir / CACHE
        good = cache.read_bytes()
        for garbage in (b"not a pickle", good[: len(good) // 2]):
            cache.write_bytes(garbage)
            written = cache.stat().st_mtime_ns
            mark = daemon.log_path.stat().st_size
            daemon.start()
            assert counts(daemon, mark) == (4, 0)
            assert listed(daemon) == before
            cache_written(daemon, after=written)
            daemon.stop()
        assert "Traceback" not in daemon.log()


def test_a_cache_of_a_group_writable_file_is_not_read(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        daemon.stop()
        (daemon.state_dir / CACHE).chmod(0o620)
        mark = daemon.log_path.stat().st_size
        daemon.start()
        assert counts(daemon, mark) == (4, 0)


def test_a_cache_of_another_default_zone_or_other_pools_is_not_used(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
    for change in ("zone", "pools"):
        if change == "pools":
            (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 2\n")
        other = Daemon(tmp_path, env={"CRONFLOW_TIMEZONE": "Europe/Paris"})
        written = (other.state_dir / CACHE).stat().st_mtime_ns
        with other:
            assert counts(other, 0) == (4, 0), change
            cache_written(other, after=written)
            # the cache written under the new key serves the next start
            assert counts(other, restart(other)) == (1, 3), change


def test_files_added_and_removed_while_stopped_leave_the_others_cached(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    write_jobs(daemon)
    with daemon:
        cache_written(daemon)
        daemon.stop()
        (daemon.jobs_dir / "beta.toml").unlink()
        daemon.write_job("aaa", JOBS["alpha"])  # before every cached file, in path order
        daemon.write_job("zzz", JOBS["alpha"])  # and after
        mark = daemon.log_path.stat().st_size
        daemon.start()
        assert counts(daemon, mark) == (3, 2)
        assert sorted(row["name"] for row in listed(daemon)) == ["aaa", "alpha", "bad", "flow", "zzz"]
