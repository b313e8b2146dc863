"""``cronflow pools``: each pool of cronflow.toml, its limits and its use right now
(SPEC section 15); ``--json`` prints one array of objects, one per pool."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from cronflow.cli import common
from cronflow.cli.common import jobs_dir_option

# runs created this long before a rate window may have started inside it (they waited)
_WAITED = timedelta(hours=1)


@click.command(name="pools")
@click.option("--json", "json_", is_flag=True, help="Print one JSON array of objects.")
@jobs_dir_option
def pools(json_: bool, jobs_dir: Path | None) -> None:
    """Show each pool of cronflow.toml: the runs holding its slots (of its size), the
    fires waiting for one (queued, reason pool), its starts in the rate window so far,
    and the jobs and flows using it."""
    from cronflow.cli.config import verb_settings
    from cronflow.core.present.pools import pool_rows, pools_table
    from cronflow.shell.liststate import pool_runs
    from cronflow.shell.loader import load_dir
    from cronflow.shell.paths import state_dir

    settings = verb_settings()
    now, jobs = common.now(), common.resolve_jobs_dir(jobs_dir)
    definitions = load_dir(jobs, now=now, default_timezone=common.default_zone(),
                           pools=tuple(settings.pools)).definitions if jobs.is_dir() else {}
    window = max((pool.rate[1] for pool in settings.pools.values() if pool.rate is not None), default=0.0)
    runs = pool_runs(state_dir(None, jobs=jobs), since=now - timedelta(seconds=window) - _WAITED)
    rows = pool_rows(settings.pools, definitions, runs, now=now)
    click.echo(json.dumps(rows) if json_ else pools_table(rows))
