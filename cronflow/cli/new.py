"""``cronflow new``: a job file written for the user (tomli-w), checked as the daemon
will read it, printed, and with ``--write`` put into the jobs directory (Tower's
``schedules create``: a valid file without remembering its keys)."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

import click

from cronflow.cli import common
from cronflow.cli.common import jobs_dir_option
from cronflow.errors import CronflowError


def job_text(name: str, *, command: str, schedule: str | None, zone: str | None,
             description: str | None) -> str:
    """The TOML of a new job: the keys given, in the order a reader expects them."""
    import tomli_w

    table: dict[str, object] = {}
    if description:
        table["description"] = description
    table["command"] = command
    if schedule:
        table["schedule"] = schedule
    if zone:
        table["timezone"] = zone
    header = "# made by `cronflow new`; every key is in the README's job file reference\n"
    return header + tomli_w.dumps(table)


@click.command()
@click.argument("name")
@click.option("--command", "command", required=True, metavar="CMD",
              help="What to run (by /bin/sh -c; a job file may also hold an argv list).")
@click.option("--schedule", default=None, metavar="S",
              help="Cron (5 or 6 fields), 'every day at 03:00', 'every 15 minutes'...; none: on demand.")
@click.option("--timezone", "zone", default=None, metavar="ZONE", help="IANA zone of the schedule.")
@click.option("--description", default=None, help="One line saying what the job is for.")
@click.option("--write", is_flag=True, help="Write NAME.toml into the jobs directory (else only print it).")
@click.option("--force", is_flag=True, help="With --write: replace an existing file of that name.")
@jobs_dir_option
def new(name: str, command: str, schedule: str | None, zone: str | None, description: str | None,
        write: bool, force: bool, jobs_dir: Path | None) -> None:
    """Make a valid job file: print it, or --write it into the jobs directory."""
    from cronflow.core.definition.common import JOB_NAME
    from cronflow.core.definition.job import check_definition

    if not JOB_NAME.match(name):
        raise CronflowError(f"{name!r} cannot be a job name: letters, digits and '_.@+-', "
                            "not starting with a punctuation mark")
    if not command.strip():
        raise CronflowError("--command must not be empty")
    text = job_text(name, command=command, schedule=schedule, zone=zone, description=description)
    jobs = common.resolve_jobs_dir(jobs_dir)
    path = jobs / f"{name}.toml"
    # checked as the daemon will read it: a bad schedule or zone is said now, by its flag
    _, errors = check_definition(str(path), text, now=common.now().astimezone(timezone.utc),
                                 default_timezone=zone or common.default_zone())
    if errors:
        flags = {"schedule": "--schedule", "timezone": "--timezone", "command": "--command"}
        first = errors[0].message
        key = next((key for key in flags if first.startswith(f"{key}:") or f"'{key}'" in first), None)
        if key is None:
            raise CronflowError(first)
        raise CronflowError(f"{flags[key]}: {first.removeprefix(f'{key}:').strip()}")
    if not write:
        click.echo(text, nl=False)
        return
    from cronflow.shell.jobwriter import write_job_files

    (written,) = write_job_files([(path.name, text)], jobs, force=force)
    click.echo(text, nl=False)
    click.echo(f"wrote {written}", err=True)
