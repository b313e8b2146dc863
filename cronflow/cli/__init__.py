"""The ``cronflow`` command: a click group whose verbs live in small modules.

Verbs are imported only when invoked (or when their own ``--help`` is asked for), so
``cronflow --help`` imports nothing heavy. Each verb module holds thin adapters: parse
options, call the core or shell, format. Errors that are the user's (``CronflowError``)
become one ``Error: ...`` line and exit status 1, in one place: ``_CronflowGroup.invoke``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from cronflow import __version__
from cronflow.cli.config import config_option

# verb -> (module under cronflow.cli, attribute, one-line help shown by `cronflow --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "daemon": ("runs", "daemon", "Run the scheduler in the foreground."),
    "run": ("runs", "run", "Run a job or flow now in the foreground; exit with its outcome."),
    "force": ("runs", "force", "Ask the daemon to fire a job or flow now."),
    "list": ("read", "list_", "List jobs and flows: schedule, next fire, last run."),
    "next": ("read", "next_", "Show the next fire times of a schedule or job."),
    "check": ("read", "check", "Validate job and flow files."),
    "history": ("runs", "history", "Show run history."),
    "logs": ("logs", "logs", "Show (or follow) the log of a run."),
    "show": ("examine", "show", "Show one run in full: steps, attempts, log, definition."),
    "pause": ("runs", "pause", "Pause a job, or every job with a tag."),
    "resume": ("runs", "resume", "Resume a paused job, or every job with a tag."),
    "cancel": ("runs", "cancel", "Cancel a running run."),
    "test": ("examine", "test", "Test a flow's plan with mocked step outcomes; nothing is run."),
    "retry": ("flows", "retry", "Retry the failed and not-run steps of a flow run."),
    "rerun": ("flows", "rerun", "Rerun a flow run from a step onwards."),
    "plugins": ("plugins", "plugins", "List installed plugins and the hooks they implement."),
    "new": ("new", "new", "Make a valid job file (print it, or --write it)."),
    "pools": ("pools", "pools", "Show each pool's size, rate and use: running, queued, jobs."),
    "import-crontab": ("ops", "import_crontab", "Turn crontab lines into job files."),
    "systemd-unit": ("ops", "systemd_unit", "Print the systemd unit for the daemon."),
    "web": ("web", "web", "Serve the web dashboard and HTTP API."),
}


class _CronflowGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from cronflow.cli.config import add_config_option

        entry = COMMANDS.get(cmd_name)
        if entry is None:
            command = _plugin_command(ctx, cmd_name)
            return None if command is None else add_config_option(command)
        module_name, attr, _ = entry
        # every verb takes --config (SPEC section 11) without each module declaring it
        return add_config_option(getattr(importlib.import_module(f"cronflow.cli.{module_name}"), attr))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from COMMANDS so that `cronflow --help` imports no verb module
        # (and no plugin: the commands plugins add are listed by `cronflow plugins`).
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
        formatter.write_paragraph()
        formatter.write_text("Plugins may add commands: `cronflow plugins` lists them.")

    def invoke(self, ctx: click.Context) -> Any:
        from cronflow.errors import CronflowError

        _lazy_schedule_kinds()
        try:
            return super().invoke(ctx)
        except CronflowError as exc:
            raise click.ClickException(str(exc)) from None



def _lazy_schedule_kinds() -> None:
    """Plugin schedule kinds (``workdays(FR):09:00``) for every verb, the plugins loaded
    only when such a schedule is met (``cronflow next "0 9 * * *"`` imports none)."""
    from cronflow.core import schedulekinds as kinds

    def provide() -> Any:
        from cronflow.cli.plugins import cli_plugins
        from cronflow.plugins.host import schedule_kinds
        from cronflow.plugins.manager import build_registry

        return schedule_kinds(build_registry(cli_plugins()))

    kinds.set_provider(provide)


def _plugin_command(ctx: click.Context, name: str) -> click.Command | None:
    """The command ``name`` a plugin adds (``register_commands``), or None. The plugins
    are loaded only here, for a verb cronflow does not have, and once per command line."""
    from cronflow.cli.plugins import cli_plugins
    from cronflow.plugins.commands import collect_commands

    found = ctx.meta.get("cronflow.plugin_commands")
    if found is None:
        found = collect_commands(cli_plugins(), builtin=COMMANDS, report=False)
        ctx.meta["cronflow.plugin_commands"] = found
        for other, problem in found.refused.items():
            if other != name:
                click.echo(f"cronflow: {problem}", err=True)
    if name in found.refused:
        raise click.ClickException(found.refused[name])
    item = found.commands.get(name)
    return None if item is None else item.command


@click.group(cls=_CronflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cronflow")
@config_option
def cli() -> None:
    """cronflow: a file-based job scheduler.

    Drop TOML job and flow files into a jobs directory; `cronflow daemon` runs them on
    schedule, with history, logs, retries, notifications and flows.
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="cronflow")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
