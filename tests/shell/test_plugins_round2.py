"""Plugins, second round (SPEC section 17), with real installed plugins (fake
``*.dist-info`` on PYTHONPATH, see ``install_fake``) and real daemons driven through the CLI."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from daemon_helpers import ROOT, Daemon, cli, wait_for
from test_plugins_entry_points import install_fake

PAGER = """
    from cronflow import hookimpl

    def page(event, run, config):
        pass

    @hookimpl
    def register_notifiers(register):
        register("zz-pager", page)
"""


def site_env(site: Path, **extra: str) -> dict[str, str]:
    """The daemon's and the CLI's environment with ``site`` importable."""
    return {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}", **extra}


def test_a_name_clash_does_not_stop_the_daemon_and_fails_only_the_jobs_using_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-a", "1.0", {"zz-a": "zz_a"}, {"zz_a": PAGER})
    install_fake(site, "cronflow-zz-b", "2.0", {"zz-b": "zz_b"}, {"zz_b": PAGER})
    with Daemon(tmp_path, env=site_env(site)) as daemon:
        daemon.write_job("tick", 'schedule = "every 1s"\ncommand = "true"\n')
        daemon.write_job("page", 'schedule = "every 1s"\ncommand = "true"\n\n[[notify]]\nvia = "zz-pager"\n')
        wait_for(lambda: daemon.runs("tick", state="succeeded"), timeout=10, on_timeout=daemon.log)
        clash = ("notifier 'zz-pager' is registered by both plugin zz-a and plugin zz-b; "
                 "uninstall or disable one ($CRONFLOW_DISABLE_PLUGINS)")
        wait_for(lambda: f"page.toml:5: {clash}" in daemon.log(), timeout=5, on_timeout=daemon.log)
        assert not daemon.runs("page")
        assert daemon.proc is not None and daemon.proc.poll() is None
        listed = daemon.cli("list")
        assert f"page.toml:5: {clash}" in listed.stdout + listed.stderr


# --- register_commands ----------------------------------------------------------------------

HELLO = """
    import os
    from pathlib import Path

    import click

    import cronflow
    from cronflow import hookimpl

    marker = os.environ.get("ZZ_IMPORTED")
    if marker:
        Path(marker).write_text("imported")

    @click.command(name="zz-hello")
    @click.argument("who", default="world")
    def hello(who):
        \"\"\"Say hello.\"\"\"
        settings = cronflow.plugin_config("zz-hello")
        click.echo(f"hello {who} {settings.get('token', '-')}")

    @click.command(name="run")
    def not_run():
        click.echo("hijacked")

    @hookimpl
    def register_commands(cli):
        cli.add_command(hello)
        cli.add_command(not_run)
"""


def test_a_pip_installed_plugin_adds_a_command_and_help_imports_no_plugin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-hello", "1.0", {"zz-hello": "zz_hello"}, {"zz_hello": HELLO})
    marker = tmp_path / "imported"
    env = site_env(site, ZZ_IMPORTED=str(marker))
    proc = cli("zz-hello", "you", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello you -\n"
    assert "command 'run' of plugin zz-hello is refused: cronflow has a verb of that name" in proc.stderr
    assert "Traceback" not in proc.stderr

    marker.unlink()
    assert cli("--help", env=env).returncode == 0
    assert cli("next", "@daily", "-n", "1", env=env).returncode == 0
    assert not marker.exists(), "cronflow --help and the verbs that need no plugin must not import plugins"

    # the built-in verb stays; the listing names the command and the refusal
    ran = cli("run", "--help", env=env)
    assert "Run a job or flow now" in ran.stdout
    info = {item["name"]: item for item in json.loads(cli("plugins", "--json", env=env).stdout)}
    assert info["zz-hello"]["provides"] == {"register_commands": ["run", "zz-hello"]}
    assert "command 'run' of plugin zz-hello is refused" in info["zz-hello"]["error"]
    assert cli("nosuch", env=env).returncode == 2


# --- before_run -------------------------------------------------------------------------------

GATE = """
    import os

    from cronflow import hookimpl

    @hookimpl
    def before_run(job, run, env):
        if job.name.startswith("blocked"):
            return False
        env["FROM_GATE"] = f"gate saw {run.id}"

    @hookimpl
    def on_run_finish(run):
        path = os.environ.get("ZZ_FINISHED")
        if path:
            with open(path, "a") as handle:
                handle.write(f"{run.job} {run.state.value} {run.reason}\\n")
"""


def test_before_run_vetoes_a_run_and_adds_to_the_environment_of_others(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-gate", "1.0", {"zz-gate": "zz_gate"}, {"zz_gate": GATE})
    jobs, state = tmp_path / "jobs.d", tmp_path / "state"
    jobs.mkdir()
    (jobs / "blocked.toml").write_text('command = "touch ran"\n')
    (jobs / "open.toml").write_text('command = "echo $FROM_GATE"\n')
    finished = tmp_path / "finished"
    env = site_env(site, ZZ_FINISHED=str(finished))

    vetoed = cli("run", "blocked", env=env, jobs_dir=jobs, state_dir=state, cwd=tmp_path)
    assert vetoed.returncode == 75, vetoed.stderr
    assert "blocked: run " in vetoed.stderr and "vetoed by plugin zz-gate (hook before_run); not started" in vetoed.stderr
    assert not (tmp_path / "ran").exists()
    [row] = json.loads(cli("history", "blocked", "--json", env=env, jobs_dir=jobs, state_dir=state).stdout)
    assert (row["state"], row["reason"]) == ("skipped", "vetoed")
    logs = cli("logs", row["id"], env=env, jobs_dir=jobs, state_dir=state)
    assert "vetoed by plugin zz-gate" in logs.stdout
    assert finished.read_text() == "blocked skipped vetoed\n"

    opened = cli("run", "open", env=env, jobs_dir=jobs, state_dir=state)
    assert opened.returncode == 0, opened.stderr
    [row] = json.loads(cli("history", "open", "--json", env=env, jobs_dir=jobs, state_dir=state).stdout)
    assert opened.stdout == f"gate saw {row['id']}\n"


def test_the_daemon_records_vetoed_fires_skipped_and_runs_the_others(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-gate", "1.0", {"zz-gate": "zz_gate"}, {"zz_gate": GATE})
    out = tmp_path / "open.out"
    with Daemon(tmp_path, env=site_env(site)) as daemon:
        daemon.write_job("blocked", f'schedule = "every 1s"\ncommand = "touch {tmp_path}/ran"\n')
        daemon.write_job("open", f'schedule = "every 1s"\ncommand = "echo $FROM_GATE >> {out}"\n')
        wait_for(lambda: daemon.runs("blocked", state="skipped") and daemon.runs("open", state="succeeded"),
                 timeout=10, on_timeout=daemon.log)
        assert {row["reason"] for row in daemon.runs("blocked")} <= {"vetoed"}
        assert "vetoed by plugin zz-gate; skipped" in daemon.log()
        assert out.read_text().startswith("gate saw ")
    assert not (tmp_path / "ran").exists()


# --- plugins_dir, [plugins.NAME], CRONFLOW_LOAD_PLUGINS, CRONFLOW_TRACE_PLUGINS -----------------

LOCAL = '''
import json
import os

import cronflow
from cronflow import hookimpl


def record(event, run, config):
    settings = cronflow.plugin_config("stamp")
    with open(config["path"], "a") as handle:
        handle.write(json.dumps({"event": event, "job": run.job, "settings": settings}) + "\\n")


@hookimpl
def register_notifiers(register):
    register("stamp", record)
'''


def _local_setup(tmp_path: Path, settings: str) -> tuple[Path, Path]:
    """A jobs dir beside a cronflow.toml naming plugins_dir = "plugins", with stamp.py there."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "stamp.py").write_text(LOCAL)
    (tmp_path / "cronflow.toml").write_text('plugins_dir = "plugins"\n' + settings)
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    return jobs, tmp_path / "state"


def test_a_py_file_in_plugins_dir_is_a_plugin_and_its_table_reaches_it_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("from-a-file\n")
    jobs, state = _local_setup(tmp_path, '\n[plugins.stamp]\nchannel = "#ops"\ntoken = { env = "ZZ_TOKEN" }\n'
                                         'key = { file = "secret.txt" }\n')
    (tmp_path / "plugins" / "broken.py").write_text("x = 1\nimport no_such_module_at_all\n")
    out = tmp_path / "notes.jsonl"
    (jobs / "ping.toml").write_text(f'command = "true"\n\n[[notify]]\nvia = "stamp"\non = ["success"]\npath = "{out}"\n')
    env = {"ZZ_TOKEN": "s3cret"}

    listed = cli("plugins", "--json", env=env, jobs_dir=jobs, state_dir=state)
    assert listed.returncode == 0, listed.stderr
    info = {item["name"]: item for item in json.loads(listed.stdout)}
    assert info["stamp"]["state"] == "loaded"
    assert info["stamp"]["origin"] == str(tmp_path / "plugins" / "stamp.py")
    assert info["stamp"]["provides"] == {"register_notifiers": ["stamp"]}
    broken = tmp_path / "plugins" / "broken.py"
    assert info["broken"]["state"] == "failed"
    assert info["broken"]["error"] == f"{broken}:2: ModuleNotFoundError: No module named 'no_such_module_at_all'"
    assert cli("check", env=env, jobs_dir=jobs, state_dir=state).returncode == 0

    ran = cli("run", "ping", env=env, jobs_dir=jobs, state_dir=state)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(out.read_text()) == {
        "event": "success", "job": "ping", "settings": {"channel": "#ops", "token": "s3cret", "key": "from-a-file"}}


def test_an_unset_secret_is_an_error_at_its_line_logged_with_the_plugin(tmp_path: Path) -> None:
    jobs, state = _local_setup(tmp_path, '\n[plugins.stamp]\ntoken = { env = "ZZ_UNSET_TOKEN" }\n')
    out = tmp_path / "notes.jsonl"
    (jobs / "ping.toml").write_text(f'command = "true"\n\n[[notify]]\nvia = "stamp"\non = ["success"]\npath = "{out}"\n')
    ran = cli("run", "ping", jobs_dir=jobs, state_dir=state)
    assert ran.returncode == 0, ran.stderr  # a plugin's error never changes the run's outcome
    assert "plugin stamp: notifier 'stamp' raised" in ran.stderr
    assert (f"{tmp_path / 'cronflow.toml'}:4: plugins.stamp.token: environment variable ZZ_UNSET_TOKEN "
            "is not set") in ran.stderr
    assert not out.exists()


def test_load_plugins_loads_only_those_named_and_lists_the_others_disabled(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-pager", "1.2.3", {"zz-pager": "zz_pager"}, {"zz_pager": PAGER})
    jobs, state = _local_setup(tmp_path, "")
    proc = cli("plugins", "--json", env=site_env(site, CRONFLOW_LOAD_PLUGINS="stamp,zz-pagr"),
               jobs_dir=jobs, state_dir=state)
    assert proc.returncode == 0, proc.stderr
    info = {item["name"]: item for item in json.loads(proc.stdout)}
    assert info["stamp"]["state"] == "loaded"
    assert (info["zz-pager"]["state"], info["zz-pager"]["reason"]) == ("disabled", "not in $CRONFLOW_LOAD_PLUGINS")
    assert info["cronflow.builtin.notify"]["state"] == "loaded"  # built-ins always load
    assert "$CRONFLOW_LOAD_PLUGINS names plugin zz-pagr, which is not installed (did you mean 'zz-pager'?)" \
        in proc.stderr
    none = cli("plugins", "--json", env=site_env(site, CRONFLOW_LOAD_PLUGINS=""), jobs_dir=jobs, state_dir=state)
    states = {item["name"]: item["state"] for item in json.loads(none.stdout)}
    assert states["stamp"] == states["zz-pager"] == "disabled"


def test_trace_plugins_logs_each_hook_call_with_its_duration(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-gate", "1.0", {"zz-gate": "zz_gate"}, {"zz_gate": GATE})
    jobs, state = _local_setup(tmp_path, "")
    out = tmp_path / "notes.jsonl"
    (jobs / "ping.toml").write_text(f'command = "true"\n\n[[notify]]\nvia = "stamp"\non = ["success"]\npath = "{out}"\n')
    quiet = cli("run", "ping", env=site_env(site), jobs_dir=jobs, state_dir=state)
    assert "trace" not in quiet.stderr
    ran = cli("run", "ping", env=site_env(site, CRONFLOW_TRACE_PLUGINS="1"), jobs_dir=jobs, state_dir=state)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.splitlines()
    for what in (r"plugin zz-gate: hook before_run took \d+\.\dms \(run \w+", r"plugin stamp: hook register_notifiers took",
                 r"plugin stamp: notifier 'stamp' took \d+\.\dms \(event success, run ",
                 r"plugin zz-gate: hook on_run_finish took \d+\.\dms \(run "):
        assert any(re.search(f"^cronflow: trace: {what}", line) for line in lines), (what, ran.stderr)

    with Daemon(tmp_path / "d", env=site_env(site, CRONFLOW_TRACE_PLUGINS="1")) as daemon:
        daemon.write_job("tick", 'schedule = "every 1s"\ncommand = "true"\n')
        wait_for(lambda: re.search(r"INFO plugin zz-gate: hook on_run_finish took \d+\.\dms \(run ", daemon.log()),
                 timeout=10, on_timeout=daemon.log)


# --- SIGHUP -------------------------------------------------------------------------------------

NOTE = """
    from cronflow import hookimpl

    def note(event, run, config):
        with open(config["path"], "a") as handle:
            handle.write(f"{run.job} {event}\\n")

    @hookimpl
    def register_notifiers(register):
        register("zz-note", note)
"""


def test_sighup_loads_a_newly_installed_plugin_and_triggers_keep_working(tmp_path: Path) -> None:
    import signal

    site = tmp_path / "site"
    site.mkdir()
    notes = tmp_path / "notes"
    with Daemon(tmp_path, env=site_env(site)) as daemon:
        daemon.write_job("first", 'schedule = "every 1s"\ncommand = "true"\n')
        daemon.write_job("then", f'command = "echo then >> {tmp_path}/then.out"\n\n[[trigger]]\nkind = "after"\n'
                                 'job = "first"\n')
        daemon.write_job("noted", f'schedule = "every 1s"\ncommand = "true"\n\n[[notify]]\nvia = "zz-note"\n'
                                  f'on = ["success"]\npath = "{notes}"\n')
        wait_for(lambda: "unknown notifier 'zz-note'" in daemon.log(), timeout=5, on_timeout=daemon.log)
        install_fake(site, "cronflow-zz-note", "1.0", {"zz-note": "zz_note"}, {"zz_note": NOTE})
        mark = len(daemon.log())
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "plugins reloaded:" in daemon.log(since=mark), timeout=5, on_timeout=daemon.log)
        assert "zz-note" in daemon.log(since=mark).split("plugins reloaded:", 1)[1].splitlines()[0]
        wait_for(lambda: notes.exists() and "noted success" in notes.read_text(), timeout=10, on_timeout=daemon.log)
        # the built-in `after` trigger was started again from the new plugins: it still fires
        before = (tmp_path / "then.out").read_text().count("then") if (tmp_path / "then.out").exists() else 0
        wait_for(lambda: (tmp_path / "then.out").exists()
                 and (tmp_path / "then.out").read_text().count("then") > before + 1,
                 timeout=10, on_timeout=daemon.log)


# --- the examples of docs/writing-plugins.md, run as written -----------------------------------


def doc_example(name: str) -> str:
    """The code block after ``<!-- example: NAME -->`` in docs/writing-plugins.md."""
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    after = text.split(f"<!-- example: {name} -->\n", 1)[1]
    return after.split("\n", 1)[1].split("```\n", 1)[0]


def test_the_hello_example_is_the_example_plugins_and_runs(tmp_path: Path) -> None:
    source = (ROOT / "examples" / "custom-plugin" / "cronflow_example" / "__init__.py").read_text()
    command = doc_example("hello").split("\n\n\n")[1]  # the command, as the package has it
    assert command.startswith("@click.command()") and command in source
    (tmp_path / "cronflow.toml").write_text('[plugins.example]\ngreeting = "bonjour"\n')
    (tmp_path / "jobs.d").mkdir()
    proc = cli("hello", "toi", jobs_dir=tmp_path / "jobs.d")
    assert (proc.returncode, proc.stdout) == (0, "bonjour, toi!\n"), proc.stderr


def test_the_maintenance_example_vetoes_runs_and_hands_a_token_over(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "maintenance.py").write_text(doc_example("maintenance"))
    flag = tmp_path / "maintenance"
    settings = doc_example("maintenance-settings").replace("/run/cronflow/maintenance", str(flag))
    (tmp_path / "cronflow.toml").write_text(settings)
    jobs = tmp_path / "jobs.d"
    jobs.mkdir()
    (jobs / "deploy.toml").write_text('command = "echo token=$DEPLOY_TOKEN"\n')
    (jobs / "backup.toml").write_text('command = "echo backup"\ntags = ["always"]\n')
    env = {"DEPLOY_TOKEN": "t0ken"}

    ran = cli("run", "deploy", env=env, jobs_dir=jobs, state_dir=tmp_path / "state")
    assert (ran.returncode, ran.stdout) == (0, "token=t0ken\n"), ran.stderr
    flag.touch()
    vetoed = cli("run", "deploy", env=env, jobs_dir=jobs, state_dir=tmp_path / "state")
    assert vetoed.returncode == 75 and "vetoed by plugin maintenance" in vetoed.stderr
    tagged = cli("run", "backup", env=env, jobs_dir=jobs, state_dir=tmp_path / "state")
    assert (tagged.returncode, tagged.stdout) == (0, "backup\n"), tagged.stderr


def test_the_testing_example_passes(tmp_path: Path) -> None:
    import subprocess
    import sys

    test_file = tmp_path / "test_doc_example.py"
    test_file.write_text(doc_example("testing"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CRONFLOW_")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


# --- register_schedules in a real daemon --------------------------------------------------------

TICKS = """
    from datetime import timedelta

    from cronflow import hookimpl

    class Ticks:
        kind = "ticks"
        has_reboot = False

        def __init__(self, text):
            self.canonical = text
            self.every = int(text.split(":", 1)[1])

        def next_fire(self, after):
            whole = after.replace(microsecond=0)
            return whole + timedelta(seconds=self.every - whole.second % self.every)

    def parse(text, zone):
        if not text.split(":", 1)[1].isdigit():
            raise ValueError("write ticks:SECONDS")
        return Ticks(text)

    @hookimpl
    def register_schedules(register):
        register("ticks", parse)
"""


def test_the_daemon_fires_a_plugin_schedule_and_catches_up_through_it(tmp_path: Path) -> None:
    import time
    from datetime import datetime, timezone

    site = tmp_path / "site"
    install_fake(site, "cronflow-zz-ticks", "1.0", {"zz-ticks": "zz_ticks"}, {"zz_ticks": TICKS})
    daemon = Daemon(tmp_path, env=site_env(site))
    daemon.write_job("tick", 'schedule = "ticks:1"\ncommand = "true"\n')
    daemon.write_job("bad", 'command = "true"\nschedule = "ticks:x"\n')
    daemon.start()
    try:
        wait_for(lambda: len(daemon.runs("tick", "succeeded")) >= 2, timeout=10, on_timeout=daemon.log)
        assert "bad.toml:2:" in daemon.log() and "plugin zz-ticks: write ticks:SECONDS" in daemon.log()
        listed = daemon.cli("list")
        assert "ticks:1" in listed.stdout, listed.stdout
    finally:
        assert daemon.stop() == 0
    stopped = time.time()
    wait_for(lambda: time.time() - stopped > 3.2, timeout=5, interval=0.1)
    daemon.start()
    assert daemon.stop() == 0
    since = datetime.fromtimestamp(stopped, timezone.utc).isoformat()
    restart = [row for row in daemon.runs("tick") if row["created"] > since]
    assert len([row for row in restart if row["state"] == "skipped" and row["reason"] == "catchup"]) >= 2, restart


def test_a_command_two_plugins_add_is_refused_in_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    twin = HELLO.replace('name="run"', 'name="zz-other"')
    install_fake(site, "cronflow-zz-hello", "1.0", {"zz-hello": "zz_hello"}, {"zz_hello": twin})
    install_fake(site, "cronflow-zz-twin", "1.0", {"zz-twin": "zz_twin"}, {"zz_twin": twin})
    proc = cli("zz-hello", env=site_env(site))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "cronflow: command 'zz-other' is added by both plugin zz-hello and plugin zz-twin; uninstall or disable "
        "one ($CRONFLOW_DISABLE_PLUGINS)",
        "Error: command 'zz-hello' is added by both plugin zz-hello and plugin zz-twin; uninstall or disable "
        "one ($CRONFLOW_DISABLE_PLUGINS)"]


def test_sighup_reads_plugins_dir_and_the_plugin_tables_again(tmp_path: Path) -> None:
    import signal

    _local_setup(tmp_path, '\n[plugins.stamp]\nchannel = "#one"\n')
    out = tmp_path / "notes.jsonl"
    with Daemon(tmp_path) as daemon:
        daemon.write_job("ping", f'schedule = "every 1s"\ncommand = "true"\n\n[[notify]]\nvia = "stamp"\n'
                                 f'on = ["success"]\npath = "{out}"\n')
        wait_for(lambda: out.exists() and '"#one"' in out.read_text(), timeout=10, on_timeout=daemon.log)
        (tmp_path / "cronflow.toml").write_text('plugins_dir = "plugins"\n\n[plugins.stamp]\nchannel = "#two"\n')
        (tmp_path / "plugins" / "stamp.py").write_text(LOCAL.replace('"event": event', '"event": "edited-" + event'))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: '"edited-success"' in out.read_text(), timeout=10, on_timeout=daemon.log)
        last = json.loads(out.read_text().splitlines()[-1])
        assert last["settings"] == {"channel": "#two"}
