"""Plugins, second round (SPEC section 17), with real installed plugins (fake
``*.dist-info`` on PYTHONPATH, see ``install_fake``) and real daemons driven through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from daemon_helpers import ROOT, Daemon, wait_for
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
