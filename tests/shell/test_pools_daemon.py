"""Pools through a real daemon (SPEC section 15): a pool's size and rate hold across
jobs, checked from the start and end stamps the jobs write themselves; every fire either
runs or is recorded ``skipped/missed_deadline``; a restarted daemon counts the runs still
holding their locks against the pool; flow steps wait for their pool's slot."""

from __future__ import annotations

import json
from pathlib import Path

from daemon_helpers import Daemon, cli, wait_for

# each run appends "start T" and "end T" (epoch seconds) to a file named by its run id
STAMP = ('command = ["sh", "-c", "echo start $(date +%s.%N) >> \\"$STAMPS/$CRONFLOW_RUN_ID\\"; sleep {sleep}; '
         'echo end $(date +%s.%N) >> \\"$STAMPS/$CRONFLOW_RUN_ID\\""]\n')


def job_text(stamps: Path, *, fires: range, sleep: float, pool: str = "db", grace: str | None = "4s") -> str:
    schedule = ", ".join(f'"once in {second} seconds"' for second in fires)
    return (f"schedule = [{schedule}]\n" + STAMP.format(sleep=sleep)
            + f'env = {{ STAMPS = "{stamps}" }}\noverlap = "allow_all"\nmax_concurrent = 20\npool = "{pool}"\n'
            + (f'misfire_grace = "{grace}"\n' if grace else ""))


def intervals(stamps: Path) -> dict[str, tuple[float, float]]:
    """Run id -> (start, end) from the stamp files (runs that have ended)."""
    found = {}
    for path in stamps.iterdir():
        marks = dict(line.split() for line in path.read_text().splitlines() if line.strip())
        if "start" in marks and "end" in marks:
            found[path.name] = (float(marks["start"]), float(marks["end"]))
    return found


def most_at_once(spans: list[tuple[float, float]]) -> int:
    # an end and a start at the same instant: the end first (the slot was free)
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def finished(daemon: Daemon, expected: int) -> list[dict[str, object]]:
    rows = daemon.runs()
    done = [row for row in rows if row["state"] not in ("queued", "running", "retrying")]
    return rows if len(rows) == expected and len(done) == expected else []


def test_five_every_second_jobs_in_a_pool_of_two_never_run_more_than_two_and_lose_no_fire(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 2\n")
    daemon = Daemon(tmp_path)
    fires = range(2, 8)  # six fires a job, one a second
    for number in range(5):
        daemon.write_job(f"db{number}", job_text(stamps, fires=fires, sleep=3))
    with daemon:
        # a fire waiting for the pool shows as queued, reason pool
        wait_for(lambda: [r for r in daemon.runs(state="queued") if r["reason"] == "pool"], timeout=15,
                 message="a fire waiting for the pool", on_timeout=daemon.log)
        # and `cronflow pools` shows the pool's use
        def full() -> dict[str, object] | None:
            (entry,) = json.loads(daemon.cli("pools", "--json").stdout)
            return entry if entry["running"] == 2 and entry["queued"] else None

        entry = wait_for(full, timeout=10, message="the pool full, fires waiting")
        assert entry["size"] == 2 and entry["members"] == [f"db{n}" for n in range(5)]
        assert "db    2/2" in daemon.cli("pools").stdout
        rows = wait_for(lambda: finished(daemon, 5 * len(fires)), timeout=45, message="every fire settled",
                        on_timeout=daemon.log)
    spans = intervals(stamps)
    ran = [row for row in rows if row["state"] == "succeeded"]
    skipped = [row for row in rows if row["state"] == "skipped"]
    # none lost: each fire ran or is a recorded skip past its deadline
    assert len(ran) + len(skipped) == len(rows), [(r["job"], r["state"], r["reason"]) for r in rows]
    assert {row["reason"] for row in skipped} <= {"missed_deadline"}
    for number in range(5):
        nominals = [row["nominal"] for row in rows if row["job"] == f"db{number}"]
        assert len(set(nominals)) == len(fires)
    # never more than two at once, from the jobs' own stamps; and the pool was used
    assert {row["id"] for row in ran} == set(spans)
    assert most_at_once(list(spans.values())) == 2
    # fires did wait for a slot (not all were skipped at once), and those waited for at
    # most their misfire_grace
    assert len(ran) >= 4 and skipped
    assert any(row["reason"] is None and row["trigger"] in ("schedule", "catchup") for row in ran)
    log = daemon.log()
    assert "waited for its pool past misfire_grace" in log


def test_a_rate_pool_never_starts_more_than_three_in_any_ten_seconds(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text('[pools.api]\nsize = 10\nrate = "3/10s"\n')
    daemon = Daemon(tmp_path)
    fires = range(2, 14)  # twelve seconds of fires
    for number in range(2):
        daemon.write_job(f"api{number}", job_text(stamps, fires=fires, sleep=0.1, pool="api", grace="12s"))
    with daemon:
        rows = wait_for(lambda: finished(daemon, 2 * len(fires)), timeout=60, message="every fire settled",
                        on_timeout=daemon.log)
    starts = sorted(start for start, _ in intervals(stamps).values())
    # the first three at once, the next three as the window lets them, ten seconds later
    assert len(starts) >= 6, (starts, [(r["state"], r["reason"]) for r in rows])
    for first, fourth in zip(starts, starts[3:]):
        # a little slack for the spawn: the stamp is written by the started process
        assert fourth - first >= 10.0 - 0.3, starts
    assert {row["state"] for row in rows} <= {"succeeded", "skipped"}
    assert {row["reason"] for row in rows if row["state"] == "skipped"} <= {"missed_deadline"}


def test_a_restarted_daemon_counts_the_runs_still_holding_their_locks_against_the_pool(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 1\n")
    daemon = Daemon(tmp_path)
    daemon.write_job("long", job_text(stamps, fires=range(1, 2), sleep=6, grace=None))
    with daemon:
        wait_for(lambda: daemon.runs("long", state="running"), timeout=10, on_timeout=daemon.log)
        daemon.kill()
    # the run outlives the daemon; the next one's job in the same pool fires at once
    daemon.write_job("short", job_text(stamps, fires=range(1, 3), sleep=0.1, grace=None))
    with daemon:
        wait_for(lambda: finished(daemon, 3), timeout=30, message="the fires after the restart",
                 on_timeout=daemon.log)
    spans = intervals(stamps)
    rows = {row["id"]: row for row in daemon.runs()}
    (long_id,) = [run_id for run_id, row in rows.items() if row["job"] == "long"]
    short = [span for run_id, span in spans.items() if rows[run_id]["job"] == "short"]
    assert len(short) == 2
    # the adopted run ends lost (its exit status is not ours) but held the pool to the end
    assert rows[long_id]["state"] == "lost"
    long_end = spans[long_id][1]
    assert all(start >= long_end for start, _ in short), (spans, long_end)


def test_an_undefined_pool_is_an_error_at_its_line_for_check_and_the_daemon(tmp_path: Path) -> None:
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 1\n")
    daemon = Daemon(tmp_path)
    daemon.write_job("typo", 'schedule = "@hourly"\ncommand = "true"\npool = "dbb"\n')
    daemon.write_job("flow", '[[steps]]\nname = "a"\ncommand = "true"\n\n[[steps]]\nname = "b"\n'
                             'command = "true"\npool = "web"\n')
    result = cli("check", jobs_dir=daemon.jobs_dir)
    assert result.returncode == 1
    assert f"{daemon.jobs_dir / 'typo.toml'}:3: pool 'dbb' is not defined in cronflow.toml (did you mean 'db'?)" \
        in result.stderr
    assert f"{daemon.jobs_dir / 'flow.toml'}:8: pool 'web' is not defined" in result.stderr
    assert "Traceback" not in result.stderr
    # and `cronflow run` refuses to run it, at the same line
    ran = cli("run", "typo", jobs_dir=daemon.jobs_dir, state_dir=daemon.state_dir)
    assert ran.returncode == 1 and "typo.toml:3: pool 'dbb' is not defined" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
    # list shows the error in place of the job, with or without a daemon
    listed = {entry["name"]: entry for entry in json.loads(daemon.cli("list", "--json").stdout)}
    assert "pool 'dbb' is not defined" in listed["typo"]["error"]
    with daemon:
        assert "typo.toml:3: pool 'dbb' is not defined" in daemon.log()
        listed = {entry["name"]: entry for entry in json.loads(daemon.cli("list", "--json").stdout)}
        assert "pool 'web' is not defined" in listed["flow"]["error"]


def test_flow_steps_in_a_pool_wait_for_its_slot(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 2\n")
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "fan.toml").write_text(
        '[[steps]]\nname = "load"\nforeach = ["a", "b", "c", "d", "e"]\nmax_parallel = 5\npool = "db"\n'
        + STAMP.format(sleep=0.5) + f'env = {{ STAMPS = "{stamps}" }}\n')
    result = cli("run", "fan", jobs_dir=jobs, state_dir=tmp_path / "state", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    spans = intervals(stamps)
    assert len(spans) == 5
    assert most_at_once(list(spans.values())) == 2


def test_forced_fires_wait_for_the_pool_can_be_cancelled_and_a_stopping_daemon_cancels_them(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 1\n")
    daemon = Daemon(tmp_path, grace="1s")
    daemon.write_job("hold", 'command = ["sleep", "30"]\npool = "db"\n')
    # buffer_all: its second fire waits behind the first, in its own job's buffer
    daemon.write_job("buf", STAMP.format(sleep=0.1) + f'env = {{ STAMPS = "{stamps}" }}\n'
                     'overlap = "buffer_all"\npool = "db"\n')
    daemon.write_job("other", 'command = "true"\npool = "db"\n')

    def pool_waiting(job: str) -> list[dict[str, object]]:
        return [r for r in daemon.runs(job, state="queued") if r["reason"] == "pool"]

    with daemon:
        assert daemon.cli("force", "hold").returncode == 0
        hold = wait_for(lambda: daemon.runs("hold", state="running"), timeout=10, on_timeout=daemon.log)[0]
        assert daemon.cli("force", "other").returncode == 0
        (other,) = wait_for(lambda: pool_waiting("other"), timeout=10, on_timeout=daemon.log)
        result = daemon.cli("cancel", str(other["id"]))
        assert result.returncode == 0, result.stderr
        wait_for(lambda: daemon.runs("other", state="cancelled"), timeout=10, on_timeout=daemon.log)
        # buf: its first fire waits for the pool, its second behind it (buffer_all)
        assert daemon.cli("force", "buf").returncode == 0
        wait_for(lambda: pool_waiting("buf"), timeout=10, on_timeout=daemon.log)
        assert daemon.cli("force", "buf").returncode == 0
        wait_for(lambda: len(daemon.runs("buf", state="queued")) == 2, timeout=10, on_timeout=daemon.log)
        # the slot frees: buf's fires run one after the other
        assert daemon.cli("cancel", str(hold["id"])).returncode == 0
        wait_for(lambda: len(daemon.runs("buf", state="succeeded")) == 2, timeout=15, on_timeout=daemon.log)
        spans = sorted(intervals(stamps).values())
        assert len(spans) == 2 and spans[0][1] <= spans[1][0]
        # a fire still waiting when the daemon stops is recorded cancelled
        assert daemon.cli("force", "hold").returncode == 0
        wait_for(lambda: daemon.runs("hold", state="running"), timeout=10, on_timeout=daemon.log)
        assert daemon.cli("force", "other").returncode == 0
        wait_for(lambda: pool_waiting("other"), timeout=10, on_timeout=daemon.log)
    stopped = [r for r in daemon.runs("other", state="cancelled") if r["reason"] == "daemon stopped"]
    assert len(stopped) == 1
    assert not daemon.runs(state="queued") and not daemon.runs(state="running")


def test_a_restarted_daemon_keeps_the_starts_of_the_rate_window(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text('[pools.api]\nsize = 10\nrate = "3/10s"\n')
    daemon = Daemon(tmp_path)
    for number in range(3):
        daemon.write_job(f"api{number}", job_text(stamps, fires=range(1, 2), sleep=0.1, pool="api", grace=None))
    with daemon:
        wait_for(lambda: len(daemon.runs(state="succeeded")) == 3, timeout=15, on_timeout=daemon.log)
    first = min(start for start, _ in intervals(stamps).values())
    daemon.write_job("late", job_text(stamps, fires=range(1, 2), sleep=0.1, pool="api", grace=None))
    with daemon:
        wait_for(lambda: daemon.runs("late", state="succeeded"), timeout=20, on_timeout=daemon.log)
    (late,) = [span for run_id, span in intervals(stamps).items() if daemon.runs("late")[0]["id"] == run_id]
    # the fourth start waited for the first three to leave the window, across the restart
    assert late[0] - first >= 10.0 - 0.3


def test_a_flow_step_and_a_job_share_the_daemons_pool(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    (tmp_path / "cronflow.toml").write_text("[pools.db]\nsize = 1\n")
    daemon = Daemon(tmp_path)
    env = f'env = {{ STAMPS = "{stamps}" }}\n'
    daemon.write_job("dump", STAMP.format(sleep=2) + env + 'pool = "db"\n')
    # an inline step with its own `pool` key, in the pool job `dump` holds
    daemon.write_job("etl", '[[steps]]\nname = "load"\npool = "db"\n' + STAMP.format(sleep=0.1) + env)
    with daemon:
        assert daemon.cli("force", "dump").returncode == 0
        wait_for(lambda: daemon.runs("dump", state="running"), timeout=10, on_timeout=daemon.log)
        assert daemon.cli("force", "etl").returncode == 0
        wait_for(lambda: [r for r in daemon.runs("etl.load", state="queued") if r["reason"] == "pool"],
                 timeout=10, message="the step waiting for the pool", on_timeout=daemon.log)
        wait_for(lambda: daemon.runs("etl", state="succeeded"), timeout=20, on_timeout=daemon.log)
    rows = {row["id"]: row for row in daemon.runs()}
    spans = {rows[run_id]["job"]: span for run_id, span in intervals(stamps).items()}
    assert spans["etl.load"][0] >= spans["dump"][1]
