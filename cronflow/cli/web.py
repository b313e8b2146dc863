"""``cronflow web``: the dashboard and HTTP API (SPEC section 14), in its own process.

The web stack (the ``cronflow[web]`` extra) is imported here, inside the command, so
``cronflow --help`` and the daemon never load it.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path

import click

from cronflow.cli.common import default_zone, jobs_dir_option, resolve_dirs, state_dir_option
from cronflow.errors import CronflowError

WEB_NICE = 10


@click.command()
@click.option("--listen", default=None, metavar="ADDR",
              help="HOST:PORT or unix:PATH (default: [web] listen of cronflow.toml, else 127.0.0.1:8787).")
@click.option("--open", "open_", is_flag=True, help="Open the dashboard in a browser.")
@jobs_dir_option
@state_dir_option
def web(listen: str | None, open_: bool, jobs_dir: Path | None, state_dir: Path | None) -> None:
    """Serve the dashboard and the HTTP API (reads the state; acts through the spool)."""
    try:
        from cronflow.web import auth
        from cronflow.web.app import serve
        from cronflow.web.state import Dirs
    except ImportError as exc:
        raise CronflowError(f"cronflow web needs the web extra ({exc.name} is missing): "
                            "pip install \"cronflow[web]\"") from None
    from cronflow.cli.config import load_cli_settings
    from cronflow.core.settings import check_listen

    jobs, state = resolve_dirs(jobs_dir, state_dir)
    settings = load_cli_settings(jobs)
    address = listen or settings.listen
    try:
        check_listen(address)
    except CronflowError as exc:
        raise CronflowError(f"--listen: {exc}") from None
    where = auth.parse_listen(address)
    token = auth.load_token(state)
    if not where.loopback and not auth.token_is_private(state):
        raise CronflowError(f"refusing to listen on {address}: {state / auth.TOKEN_NAME} is readable by "
                            "others (chmod 600 it), and anyone who can read it can run jobs")

    def announce(url: str) -> None:
        click.echo(f"cronflow web: {url}")
        sys.stdout.flush()
        if open_:
            webbrowser.open(url)

    # the daemon's fires come first: on a busy machine the web server gets the CPU left
    # over (its unit sets CPUWeight= too, which is what counts between systemd services)
    os.nice(WEB_NICE)
    dirs = Dirs(jobs=jobs, state=state, zone=default_zone(), pools=tuple(settings.pools))
    serve(dirs, listen=where, token=token, announce=announce)
