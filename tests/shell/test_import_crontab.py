"""``cronflow import-crontab`` run as a real subprocess on real crontab files; the files it
writes pass ``cronflow check``, and their commands get the stdin cron would give them."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from daemon_helpers import cli

CRONTAB = """\
SHELL=/bin/sh
PATH=/usr/local/bin:/usr/bin:/bin
MAILTO=ops@example.com
CRON_TZ=Europe/Paris

# Nightly backup
30 2 * * * /usr/local/bin/backup.sh --all
0 8 * * 1-5 mail -s "report" ops%Hello,%all good.%
@reboot /usr/local/bin/warmup
17 * * * * /usr/local/bin/backup.sh --quick
bogus line
"""


def cronflow(*args: str, cwd: Path, stdin: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=cwd, env=env, input=stdin, timeout=60)


@pytest.fixture
def crontab(tmp_path: Path) -> Path:
    path = tmp_path / "crontab.txt"
    path.write_text(CRONTAB)
    return path


def test_dry_run_shows_the_files_and_the_notes_and_writes_nothing(crontab, tmp_path):
    out = tmp_path / "jobs.d"
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"# --- {out / 'backup.toml'} ---" in proc.stdout
    assert f"# --- {out / 'backup-2.toml'} ---" in proc.stdout
    assert 'command = "/usr/local/bin/backup.sh --all"' in proc.stdout
    assert proc.stdout.rstrip().endswith("4 jobs from " + str(crontab)
                                         + "; nothing written (dry run: add --write)")
    assert f"{crontab}:3: MAILTO=ops@example.com" in proc.stderr
    assert f"{crontab}:9: @reboot" in proc.stderr
    assert f"{crontab}:11: not a crontab entry" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_written_files_pass_cronflow_check(crontab, tmp_path):
    out = tmp_path / "jobs.d"
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), "--write", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "backup-2.toml", "backup.toml", "mail.toml", "warmup.toml"]
    assert f"wrote {out / 'backup.toml'}" in proc.stdout
    backup = tomllib.loads((out / "backup.toml").read_text())
    assert backup["timezone"] == "Europe/Paris" and backup["description"] == "Nightly backup"
    check = cronflow("check", str(out), cwd=tmp_path)
    # the crontab's programs are not on this machine: warnings, not errors
    assert check.returncode == 0, check.stderr
    assert check.stdout == "4 files, no errors, 3 warnings\n"
    assert all(": warning: command: program /usr/local/bin/" in line
               for line in check.stderr.splitlines()), check.stderr


def test_names_avoid_files_already_there_and_a_reimport_needs_force(crontab, tmp_path):
    out = tmp_path / "jobs.d"
    out.mkdir()
    (out / "warmup.toml").write_text('command = "mine"\n')
    (out / "reports.toml").write_text('name = "mail"\ncommand = "mine"\n')
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), "--write", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # a file the import did not write is never reused: the new job takes another name
    assert (out / "warmup.toml").read_text() == 'command = "mine"\n'
    assert "/usr/local/bin/warmup" in (out / "warmup-2.toml").read_text()
    # nor the name a file gives its job
    assert "mail -s" in (out / "mail-2.toml").read_text() and not (out / "mail.toml").exists()
    written = sorted(p.name for p in out.iterdir())
    # the same crontab again: the same names (the files it wrote), refused without --force
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), "--write", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: would overwrite {out / 'backup.toml'}, ")
    assert "pass --force" in proc.stderr and "Traceback" not in proc.stderr
    (out / "backup.toml").write_text((out / "backup.toml").read_text() + "# edited\n")
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), "--write", "--force",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == written
    assert "# edited" not in (out / "backup.toml").read_text()
    assert (out / "warmup.toml").read_text() == 'command = "mine"\n'


def test_default_out_is_the_jobs_dir_and_stdin_is_accepted(tmp_path):
    jobs = tmp_path / "jobs.d"
    proc = cronflow("import-crontab", "-", "--write", cwd=tmp_path,
                    env={"CRONFLOW_JOBS_DIR": str(jobs)}, stdin="*/5 * * * * /opt/poll.sh\n")
    assert proc.returncode == 0, proc.stderr
    assert tomllib.loads((jobs / "poll.toml").read_text())["schedule"] == "*/5 * * * *"


def test_cron_d_files_have_a_user_field(tmp_path):
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    (cron_d / "php").write_text("09,39 * * * * root [ -x /usr/lib/php/sessionclean ] && "
                                "/usr/lib/php/sessionclean\n")
    out = tmp_path / "out"
    proc = cronflow("import-crontab", str(cron_d / "php"), "--out", str(out), "--write",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = tomllib.loads((out / "sessionclean.toml").read_text())
    assert table["user"] == "root"
    assert table["command"] == (
        "if [ -x /usr/lib/php/sessionclean ]; then /usr/lib/php/sessionclean; "
        "else echo '/usr/lib/php/sessionclean is not installed: nothing to do'; fi")
    # the path told: no guess, so no note about one
    assert "system crontab" not in proc.stderr


def test_a_missing_file_is_a_one_line_error(tmp_path):
    proc = cronflow("import-crontab", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    assert "nope" in proc.stderr


def run_like_cronflow(command: str | list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a job's command the way cronflow does: a string through /bin/sh -c, a list as argv,
    with no stdin of its own."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
    return subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=30)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])
def test_percent_stdin_reaches_the_command_byte_for_byte(tmp_path, shell):
    if not Path(shell).exists():
        pytest.skip(f"{shell} is not installed")
    # what cron itself would pipe in: % -> newline, \% -> %, other backslashes kept,
    # quotes and $ untouched (they are data, not shell)
    line = ("0 1 * * * cat > got.txt; echo 100\\% > pct.txt"
            "%first line%it's 50\\% \"done\" $HOME `x` \\n%%last")
    expected = "first line\nit's 50% \"done\" $HOME `x` \\n\n\nlast"
    crontab = tmp_path / "crontab"
    crontab.write_text(f"SHELL={shell}\n{line}\n")
    out = tmp_path / "jobs.d"
    proc = cronflow("import-crontab", str(crontab), "--out", str(out), "--write", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (job,) = out.iterdir()
    command = tomllib.loads(job.read_text())["command"]
    result = run_like_cronflow(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "got.txt").read_bytes() == expected.encode()
    assert (tmp_path / "pct.txt").read_text() == "100%\n"


# -- Debian's guard idiom, run for real ---------------------------------------------------------


def test_a_guarded_job_succeeds_with_a_note_while_its_program_is_missing(tmp_path):
    tool = tmp_path / "bin" / "tool"
    crontab = tmp_path / "mycron"
    crontab.write_text(f"*/5 * * * * test -x {tool} && {tool} --go > {tmp_path}/ran.txt\n")
    env = {"CRONFLOW_JOBS_DIR": str(tmp_path / "jobs"), "CRONFLOW_STATE_DIR": str(tmp_path / "st")}
    proc = cronflow("import-crontab", str(crontab), "--write", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"{crontab}:1: guard `test -x {tool} &&`: where it is false" in proc.stderr
    # the program is missing: a succeeded run that says why it did nothing
    run = cronflow("run", "tool", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert f"{tool} is not installed: nothing to do" in run.stdout + run.stderr
    assert not (tmp_path / "ran.txt").exists()
    # installed later: the same job file runs it, with its exit status (no new import)
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\necho "$@"\nexit 3\n')
    tool.chmod(0o755)
    run = cronflow("run", "tool", cwd=tmp_path, env=env)
    assert run.returncode == 3, run.stderr
    assert (tmp_path / "ran.txt").read_text() == "--go\n"
    history = json.loads(cronflow("history", "tool", "--json", cwd=tmp_path, env=env).stdout)
    assert [(r["state"], r["exit_code"]) for r in history] == [("failed", 3), ("succeeded", 0)]


# -- the user field, guessed ---------------------------------------------------------------------


SYSTEM = "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"


def test_a_system_crontab_on_stdin_is_read_with_its_user_and_a_warning(tmp_path):
    out = tmp_path / "out"
    proc = cronflow("import-crontab", "-", "--out", str(out), "--write", cwd=tmp_path,
                    stdin=SYSTEM)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("<stdin>:1: warning: standard input read as a system crontab "
                                  "(the sixth field 'root' is a user)")
    table = tomllib.loads((out / "cron.hourly.toml").read_text())
    assert (table["user"], table["command"]) == (
        "root", "cd / && run-parts --report /etc/cron.hourly")
    # --no-user-field: as told, without a guess
    proc = cronflow("import-crontab", "-", "--out", str(out), "--no-user-field", cwd=tmp_path,
                    stdin=SYSTEM)
    assert proc.returncode == 0, proc.stderr
    assert 'command = "root cd / && run-parts --report /etc/cron.hourly"' in proc.stdout
    assert "system crontab" not in proc.stderr


# -- real cron.d files from Debian packages -----------------------------------------------------


REAL = Path(__file__).resolve().parents[1] / "data" / "crontabs"


def test_real_cron_d_files_import_into_one_directory_that_passes_check(tmp_path):
    out = tmp_path / "jobs.d"
    files = sorted(p for p in REAL.iterdir() if p.name != "README.md")
    stderr = ""
    for path in files:
        proc = cronflow("import-crontab", str(path), "--out", str(out), "--write", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        stderr += proc.stderr
    assert "Traceback" not in stderr
    names = sorted(p.stem for p in out.iterdir())
    assert len(names) == 29
    assert not {"if", "command", "test", "perl", "sleep-int-rand-43200", "job"} & set(names)
    assert {"certbot", "debian-sa1", "debian-sa1-2", "sessionclean", "mailman-2"} <= set(names)
    check = cronflow("check", str(out), cwd=tmp_path)
    # warnings only (a package's program that this machine lacks), never an error
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("29 files, no errors"), check.stdout
    assert all(": warning: " in line for line in check.stderr.splitlines()), check.stderr
    # importing them all again names the same files: refused without --force, no -3s
    again = cronflow("import-crontab", str(REAL / "sysstat"), "--out", str(out), "--write",
                     cwd=tmp_path)
    assert again.returncode == 1
    both = f"{out / 'debian-sa1.toml'}, {out / 'debian-sa1-2.toml'}"
    assert f"would overwrite {both};" in again.stderr
