"""Operations verbs: ``import-crontab`` and ``systemd-unit``.

Thin adapters over :mod:`cronflow.core.crontab.convert` (pure conversion) and the unit files
shipped as package data in ``cronflow/systemd/``.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import click

from cronflow.cli import common
from cronflow.cli.common import jobs_dir_option
from cronflow.errors import CronflowError

# the ExecStart program written in the shipped unit files, replaced when printed
SHIPPED_EXECUTABLE = "/usr/local/bin/cronflow"


# -- import-crontab --------------------------------------------------------------------------


def _read_source(file: str) -> tuple[str, str]:
    """(text, name to show) of the crontab; ``-`` is standard input."""
    if file == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise CronflowError(f"cannot read {file}: {exc.strerror}") from None
    try:
        return data.decode("utf-8"), file
    except UnicodeDecodeError:
        # crontabs predate UTF-8 on some systems; keep every byte rather than refuse
        return data.decode("latin-1"), file


def _has_user_field(file: str) -> bool | None:
    """System crontabs (``/etc/crontab``, ``cron.d/*``) have a user before the command;
    None: not known from the path, to be guessed from the lines themselves."""
    if file == "-":
        return None
    path = Path(file).absolute()
    if path == Path("/etc/crontab") or path.parent.name == "cron.d":
        return True
    return None


def _is_user(name: str) -> bool:
    """Whether this machine (or every Debian-like one) has a user ``name``."""
    import pwd

    from cronflow.core.crontab.guess import WELL_KNOWN_USERS

    if name in WELL_KNOWN_USERS:
        return True
    try:
        pwd.getpwnam(name)
    except (KeyError, OSError):
        return False
    return True


def _is_program(name: str) -> bool:
    return shutil.which(name) is not None


def _existing_names(target: Path) -> tuple[set[str], dict[tuple[str, str], str]]:
    """The job names the files in ``target`` use (their stems and ``name`` keys), and
    those of files an earlier import wrote, by the crontab line they came from."""
    import tomllib

    from cronflow.core.crontab.convert import imported_from

    taken: set[str] = set()
    previous: dict[tuple[str, str], str] = {}
    try:
        files = sorted(target.glob("*.toml"))
    except OSError:
        return taken, previous
    for path in files:
        taken.add(path.stem)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        try:
            name = tomllib.loads(text).get("name")
        except tomllib.TOMLDecodeError:
            name = None  # `cronflow check` reports it; its stem is taken all the same
        if isinstance(name, str):
            taken.add(name)
        origin = imported_from(text)
        if origin is not None:
            previous.setdefault(origin, path.stem)
    return taken, previous


def _checker(out: Path):
    """Validate a rendered file exactly as ``cronflow check`` would (the same plugin check,
    with its deadline)."""
    import logging

    from cronflow.core.definition.job import check_definition
    from cronflow.cli.config import verb_settings
    from cronflow.plugins import build_registry
    from cronflow.plugins.host import load_plugins
    from cronflow.plugins.validation import PluginChecker

    now = common.now()
    settings = verb_settings()
    checker = PluginChecker(build_registry(load_plugins(settings)), logging.getLogger("cronflow.check"),
                            timeout=settings.plugin_timeout)

    def check(file_name: str, text: str) -> str | None:
        definition, errors = check_definition(str(out / file_name), text, now=now,
                                              default_timezone=settings.timezone)
        if not errors and definition is not None:
            errors = checker.check_all([definition]).get(definition.path, [])
        if errors:
            return errors[0].message
        return None

    return check


@click.command("import-crontab")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the job files (default: the jobs directory).")
@click.option("--user-field/--no-user-field", default=None,
              help="Lines carry a user before the command, as in /etc/crontab and cron.d "
                   "(default: guessed from the path, else from the lines, with a note).")
@click.option("--write", is_flag=True, help="Write the files (default: only show them).")
@click.option("--force", is_flag=True, help="With --write, overwrite existing files.")
@jobs_dir_option
def import_crontab(file: str, out: Path | None, user_field: bool | None, write: bool,
                   force: bool, jobs_dir: Path | None) -> None:
    """Turn the lines of crontab FILE (`-` for stdin) into job files.

    Shows the files it would write; --write writes them. What cannot be carried over
    (cron's mail of output, @reboot differences, guards, `%`, lines that are not
    entries) is listed on stderr with its crontab line number. Names never reuse one of
    a file already in the directory, except the file imported earlier from the same line.
    """
    from cronflow.core.crontab.convert import import_crontab as convert
    from cronflow.cli.common import resolve_jobs_dir

    text, source = _read_source(file)
    target = out or resolve_jobs_dir(jobs_dir)
    with_user = _has_user_field(file) if user_field is None else user_field
    taken, previous = _existing_names(target)
    jobs, notes = convert(text, user_field=with_user, source_name=source, check=_checker(target),
                          taken=taken, previous=previous,
                          fallback_name="job" if file == "-" else Path(file).stem,
                          is_user=_is_user, is_program=_is_program)
    if write:
        _write(jobs, target, force)
    else:
        for job in jobs:
            click.echo(f"# --- {target / (job.name + '.toml')} ---")
            click.echo(job.text)
    for note in notes:
        where = f"{source}:{note.line}" if note.line is not None else source
        click.echo(f"{where}: {note.message}", err=True)
    count = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"
    if write:
        click.echo(f"{count} written to {target}")
    else:
        click.echo(f"{count} from {source}; nothing written (dry run: add --write)")


def _write(jobs: list, target: Path, force: bool) -> None:
    from cronflow.shell.jobwriter import write_job_files

    for path in write_job_files([(f"{job.name}.toml", job.text) for job in jobs], target, force=force):
        click.echo(f"wrote {path}")


# -- systemd-unit ----------------------------------------------------------------------------


def installed_executable() -> str:
    """The ``cronflow`` program of this installation, as an absolute path.

    The console script beside the running interpreter (a venv or pipx install) comes
    first, then ``cronflow`` on PATH.
    """
    beside = Path(sys.executable).parent / "cronflow"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("cronflow")
    if found:
        return str(Path(found).absolute())
    raise CronflowError("cannot find the installed `cronflow` program; pass --exec PATH")


def unit_text(*, user: bool, executable: str, web: bool = False) -> str:
    """The shipped unit file (the daemon's, or with ``web`` that of ``cronflow web``)
    with ExecStart running ``executable``."""
    name = f"cronflow{'-web' if web else ''}{'-user' if user else ''}.service"
    text = resources.files("cronflow").joinpath("systemd", name).read_text(encoding="utf-8")
    return text.replace(f"ExecStart={SHIPPED_EXECUTABLE} ", f"ExecStart={executable} ")


@click.command("systemd-unit")
@click.option("--user", "user_mode", is_flag=True,
              help="The unit for `systemctl --user` (jobs run as you).")
@click.option("--exec", "executable", default=None, metavar="PATH",
              help="The cronflow program for ExecStart (default: this installation's).")
@click.option("--web", "web", is_flag=True, help="The unit of `cronflow web` (cronflow-web.service) instead.")
def systemd_unit(user_mode: bool, executable: str | None, web: bool = False) -> None:
    """Print the systemd unit that runs `cronflow daemon` (or `cronflow web`).

    System mode: save it as /etc/systemd/system/cronflow.service. User mode (--user):
    save it as ~/.config/systemd/user/cronflow.service. With --web, the same places as
    cronflow-web.service. See docs/operations.md.
    """
    program = executable or installed_executable()
    if not os.path.isabs(program) or any(c.isspace() for c in program):
        raise CronflowError(f"--exec must be an absolute path without spaces, got {program!r}")
    click.echo(unit_text(user=user_mode, executable=program, web=web), nl=False)
