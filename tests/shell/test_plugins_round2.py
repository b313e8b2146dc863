"""Plugins, second round (SPEC section 17), with real installed plugins (fake
``*.dist-info`` on PYTHONPATH, see ``install_fake``) and real daemons driven through the CLI."""

from __future__ import annotations

import json
import os
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

    @click.command()
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
    proc = cli("hello", "you", env=env, cwd=tmp_path)
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
    assert info["zz-hello"]["provides"] == {"register_commands": ["hello", "run"]}
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
