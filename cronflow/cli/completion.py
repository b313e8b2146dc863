"""Shell completion callbacks for click's ``shell_complete=``: job and flow names, tags,
run ids.

Enable completion (click's protocol; the program is called with ``_CRONFLOW_COMPLETE``)::

    # bash, in ~/.bashrc
    eval "$(_CRONFLOW_COMPLETE=bash_source cronflow)"
    # zsh, in ~/.zshrc
    eval "$(_CRONFLOW_COMPLETE=zsh_source cronflow)"
    # fish, once
    _CRONFLOW_COMPLETE=fish_source cronflow > ~/.config/fish/completions/cronflow.fish

(Generating the script once into a file, ``_CRONFLOW_COMPLETE=bash_source cronflow >
~/.cronflow-complete.bash``, and sourcing that keeps shell start-up fast.)

Each callback runs on every TAB, so each is cheap and quiet: it reads the jobs dir (or
the history database, read-only) and returns nothing rather than fail. They respect
``--jobs-dir`` / ``--state-dir`` when given before the word being completed, then
``$CRONFLOW_JOBS_DIR`` / ``$CRONFLOW_STATE_DIR`` and the usual defaults.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

# enough to choose from; a longer list scrolls off the screen
MAX_RUN_IDS = 50


def _jobs_dir(ctx: click.Context) -> Path:
    from cronflow.cli.common import resolve_jobs_dir

    return resolve_jobs_dir(_param(ctx, "jobs_dir"))


def _param(ctx: click.Context | None, name: str) -> Any:
    # the verb's own option first, then the group's
    while ctx is not None:
        value = ctx.params.get(name)
        if value:
            return value
        ctx = ctx.parent
    return None


def _definitions(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, table) of each job and flow file; a file that does not parse gives its stem."""
    import tomllib  # here: every command imports this module, few complete a name

    from cronflow.shell.files import is_job_file

    try:
        paths = sorted(p for p in directory.iterdir() if is_job_file(p.name) and p.is_file())
    except OSError:
        return
    for path in paths:
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            table = {}
        name = table.get("name")
        yield (name if isinstance(name, str) and name else path.stem), table


def complete_definition_names(ctx: click.Context, param: click.Parameter,
                              incomplete: str) -> list[CompletionItem]:
    """Names of the jobs and flows in the jobs dir starting with ``incomplete``; the
    description is shown as help by zsh and fish."""
    items = []
    for name, table in _definitions(_jobs_dir(ctx)):
        if name.startswith(incomplete):
            description = table.get("description")
            items.append(CompletionItem(name, help=description if isinstance(description, str)
                                        and description else None))
    return sorted(items, key=lambda item: item.value)


def complete_tags(ctx: click.Context, param: click.Parameter,
                  incomplete: str) -> list[CompletionItem]:
    """The tags used by the jobs and flows in the jobs dir, each once, sorted."""
    tags: set[str] = set()
    for _, table in _definitions(_jobs_dir(ctx)):
        value = table.get("tags")
        if isinstance(value, list):
            tags.update(t for t in value if isinstance(t, str))
    return [CompletionItem(tag) for tag in sorted(tags) if tag.startswith(incomplete)]


def complete_run_ids(ctx: click.Context, param: click.Parameter,
                     incomplete: str) -> list[CompletionItem]:
    """Recent run ids starting with ``incomplete``, newest first, with job and state."""
    from cronflow.shell.paths import state_dir

    jobs = _jobs_dir(ctx)
    database = state_dir(_param(ctx, "state_dir"), jobs=jobs) / "cronflow.db"
    if not database.is_file():
        return []
    try:
        # read-only: completing a word must never create or migrate a database
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = connection.execute(
                "SELECT id, job, state FROM runs WHERE id LIKE ? ESCAPE '\\' "
                "ORDER BY created DESC LIMIT ?",
                (_like_prefix(incomplete), MAX_RUN_IDS)).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return []
    return [CompletionItem(run_id, help=f"{job} {state}") for run_id, job, state in rows]


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
