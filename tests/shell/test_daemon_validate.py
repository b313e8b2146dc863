"""A plugin's ``validate()`` at load, for real: a pip-installed (fake) plugin whose notifier
refuses plain-http urls, ``cronflow check``, and a real daemon driven through the CLI."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from daemon_helpers import ROOT, Daemon, cli, wait_for
from test_plugins_entry_points import install_fake

PAGER = """
    import os
    import time
    from pathlib import Path

    from cronflow import hookimpl

    def page(event, run, config):
        pass

    def _validate(config):
        # hangs while the file named by hang_if exists (a plugin whose server went away)
        hang_if = config.get("hang_if")
        while hang_if and Path(hang_if).exists():
            time.sleep(0.05)
        if not str(config.get("url", "")).startswith("https://"):
            raise ValueError("url must start with https://")

    page.validate = _validate

    @hookimpl
    def register_notifiers(register):
        register("zz-pager", page)

    @hookimpl
    def on_config_error(path, error):
        with open(os.environ["ZZ_CONFIG_ERRORS"], "a") as out:
            out.write(f"{path}|{error}\\n")
"""


def setup(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-pager", "1.0", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "ZZ_CONFIG_ERRORS": str(tmp_path / "config-errors")}


def job(out: Path, *, url: str, tag: str, schedule: str = "* * * * * *", hang_if: str | None = None) -> str:
    extra = f"hang_if = {json.dumps(hang_if)}\n" if hang_if else ""
    return (f'schedule = "{schedule}"\ncommand = "echo {tag} >> {out}"\n\n'
            f'[[notify]]\nvia = "zz-pager"\non = ["failure"]\nurl = "{url}"\n{extra}')


def tags(out: Path) -> list[str]:
    return out.read_text().split() if out.exists() else []


def test_check_refuses_what_the_plugin_refuses(tmp_path: Path) -> None:
    env = setup(tmp_path)
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "page.toml").write_text(job(tmp_path / "out", url="http://hooks.example.com", tag="x"))
    result = cli("check", jobs_dir=jobs, env=env)
    assert result.returncode == 1
    assert f"{jobs / 'page.toml'}:7: notify via 'zz-pager': url must start with https://" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_with_a_hung_validate_answers_after_one_deadline(tmp_path: Path) -> None:
    env = setup(tmp_path)
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (tmp_path / "cronflow.toml").write_text('plugin_timeout = "1s"\n')
    hang = tmp_path / "hang"
    hang.touch()
    for i in range(4):
        (jobs / f"page{i}.toml").write_text(job(tmp_path / "out", url="https://ok", tag="x", hang_if=str(hang)))
    began = time.monotonic()
    result = cli("check", jobs_dir=jobs, env=env)
    assert time.monotonic() - began < 4.0  # four hung files, one deadline
    assert result.returncode == 0, result.stderr  # not judged is not refused
    assert f"{jobs / 'page0.toml'}: plugin zz-pager: validate did not answer within 1s" in result.stderr
    assert "Traceback" not in result.stderr
    hang.unlink()


def test_the_daemon_refuses_it_keeps_the_last_good_definition_and_list_says_so(tmp_path: Path) -> None:
    env = setup(tmp_path)
    out = tmp_path / "out"
    with Daemon(tmp_path, env=env) as daemon:
        path = daemon.write_job("page", job(out, url="https://hooks.example.com", tag="good"))
        wait_for(lambda: "good" in tags(out), timeout=5, message="a first run", on_timeout=daemon.log)
        daemon.write_job("page", job(out, url="http://hooks.example.com", tag="bad"))
        message = f"{path}:7: notify via 'zz-pager': url must start with https://"
        wait_for(lambda: f"{message}; keeping its last good definition" in daemon.log(), timeout=5,
                 message="the refusal to be logged", on_timeout=daemon.log)
        wait_for(lambda: (tmp_path / "config-errors").exists(), timeout=5, message="on_config_error",
                 on_timeout=daemon.log)
        assert (tmp_path / "config-errors").read_text() == f"{path}|{message}\n"
        count = len(tags(out))
        wait_for(lambda: len(tags(out)) >= count + 2, timeout=5, message="the good definition to go on firing",
                 on_timeout=daemon.log)
        assert set(tags(out)) == {"good"}

        rows = json.loads(daemon.cli("list", "--json").stdout)
        (row,) = [row for row in rows if row["path"] == str(path)]
        assert row["name"] == "page" and row["error"] == message
        assert row["schedule"] == "* * * * * *" and row["next"] is not None  # what still runs
        text = daemon.cli("list").stdout
        line = next(line for line in text.splitlines() if line.startswith("page "))
        cells = re.split(r"\s{2,}", line)
        assert cells[1] == "* * * * * *" and cells[6].startswith("error, "), text
        assert len([cell for cell in cells if cell.endswith(" UTC")]) == 2, text  # NEXT and LAST

        # fixed: loaded again, the error gone from list
        daemon.write_job("page", job(out, url="https://hooks.example.com", tag="fixed"))
        wait_for(lambda: "fixed" in tags(out), timeout=5, message="the fixed definition", on_timeout=daemon.log)
        rows = json.loads(daemon.cli("list", "--json").stdout)
        assert [row["error"] for row in rows if row["name"] == "page"] == [None]

        # refused again, then the daemon stops: its view goes with it (list calls no plugin
        # itself, so the file is then shown as it parses)
        daemon.write_job("page", job(out, url="http://hooks.example.com", tag="bad"))
        wait_for(lambda: daemon.log().count(f"{message}; keeping") == 2, timeout=5, message="the second refusal",
                 on_timeout=daemon.log)
        wait_for(lambda: json.loads(daemon.cli("list", "--json").stdout)[0]["next"], timeout=5,
                 message="list to show the kept definition", on_timeout=daemon.log)
        assert daemon.stop() == 0
    (row,) = json.loads(daemon.cli("list", "--json").stdout)
    assert row["error"] is None and row["path"] == str(path)


def test_a_new_file_the_plugin_refuses_is_not_loaded(tmp_path: Path) -> None:
    env = setup(tmp_path)
    out = tmp_path / "out"
    with Daemon(tmp_path, env=env) as daemon:
        path = daemon.write_job("page", job(out, url="http://hooks.example.com", tag="bad"))
        wait_for(lambda: f"{path}:7: notify via 'zz-pager'" in daemon.log(), timeout=5,
                 message="the refusal", on_timeout=daemon.log)
        time.sleep(1.5)  # fires every second if it were loaded
        assert not out.exists() and not daemon.runs("page")
        (row,) = [row for row in json.loads(daemon.cli("list", "--json").stdout) if row["path"] == str(path)]
        assert row["error"] and row["next"] is None


def test_a_hung_validate_is_bounded_once_per_reload_and_unschedules_nothing(tmp_path: Path) -> None:
    env = setup(tmp_path)
    (tmp_path / "cronflow.toml").write_text('plugin_timeout = "1s"\n')
    hang = tmp_path / "hang"
    tick = tmp_path / "tick"
    with Daemon(tmp_path, env=env) as daemon:
        daemon.write_job("tick", f'schedule = "* * * * * *"\ncommand = "date +%s.%N >> {tick}"\n')
        outs = [tmp_path / f"out{i}" for i in range(5)]
        for i, out in enumerate(outs):
            daemon.write_job(f"page{i}", job(out, url="https://ok.example.com", tag="v1", hang_if=str(hang)))
        wait_for(lambda: all(tags(out) for out in outs), timeout=8, message="every job running",
                 on_timeout=daemon.log)

        hang.touch()
        mark = len(daemon.log())
        began = time.time()
        for i, out in enumerate(outs):  # a reload of five files whose validate hangs
            daemon.write_job(f"page{i}", job(out, url="https://ok.example.com", tag="v2", hang_if=str(hang)))
        # accepted unchecked at the reload's deadline (plugin_timeout), not 5 x 1 s later
        wait_for(lambda: all("v2" in tags(out) for out in outs), timeout=4, message="the new versions",
                 on_timeout=daemon.log)
        assert time.time() - began < 3.5
        log = daemon.log(mark)
        assert "plugin zz-pager: validate did not answer within 1s" in log
        # the other job fired every second all along: the reload never blocked the loop
        fired = [float(line) for line in tick.read_text().split() if float(line) >= began - 1]
        gaps = [b - a for a, b in zip(fired, fired[1:])]
        assert gaps and max(gaps) < 1.6, gaps

        # the next reload does not wait again on a validate that is still stuck
        mark = len(daemon.log())
        daemon.write_job("page0", job(outs[0], url="https://ok.example.com", tag="v3", hang_if=str(hang)))
        wait_for(lambda: "v3" in tags(outs[0]), timeout=3, message="v3", on_timeout=daemon.log)
        assert "validate not called (an earlier call is still stuck)" in daemon.log(mark)
        assert daemon.stop() == 0

    # a start with the validate hung: ready after one deadline (not five), every job loaded
    began = time.monotonic()
    with Daemon(tmp_path, env=env) as daemon:
        assert time.monotonic() - began < 4.5  # five hung files: one deadline, not 5 x 1 s
        assert "plugin zz-pager: validate did not answer within 1s" in daemon.log()
        marks = {out: len(tags(out)) for out in outs}
        wait_for(lambda: all(len(tags(out)) > marks[out] for out in outs), timeout=5, message="every job firing",
                 on_timeout=daemon.log)
    hang.unlink()
