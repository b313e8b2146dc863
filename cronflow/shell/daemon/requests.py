"""Control requests from the CLI (``force``, ``pause``/``resume``, ``cancel``), as the
daemon acts on them once read from the spool (:mod:`cronflow.shell.spool`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from cronflow.shell.daemon.firing import Firing
from cronflow.model import RunState, replace
from cronflow.shell.spool import Request


def handle_request(firing: Firing, request: Request, *, now: datetime) -> None:
    """Act on one control request (durably, before the caller deletes it)."""
    if request.kind == "force":
        firing.logger.info("force: %s", request.target)
        firing.fire_now(request.target, request.params, "force", now=now)
    elif request.kind in ("pause", "resume"):
        _pause(firing, request)
    elif request.kind == "cancel":
        _cancel(firing, request.target, now=now)
    else:
        firing.logger.error("spool: unknown request kind %r ignored", request.kind)


def _pause(firing: Firing, request: Request) -> None:
    if request.by_tag:
        names = [name for name, d in firing.table.definitions.items() if request.target in d.tags]
        if not names:
            firing.logger.warning("%s --tag %s: no loaded job has this tag", request.kind, request.target)
    else:
        names = [request.target]
        if request.target not in firing.table.definitions:
            firing.logger.warning("%s %s: no such job is loaded (recorded anyway)", request.kind, request.target)
    until = datetime.fromisoformat(request.until).astimezone(timezone.utc) if request.until else None
    with firing.ctx.store.batch():
        for name in names:
            state = firing.table.state(name)
            if request.kind == "pause":
                firing.table.set_state(replace(state, paused=True, paused_until=until))
            else:
                firing.table.set_state(replace(state, paused=False, paused_until=None))
            firing.logger.info("job %s: %s%s", name, "paused" if request.kind == "pause" else "resumed",
                             f" until {until.isoformat()}" if until else "")


def _cancel(firing: Firing, run_id: str, *, now: datetime) -> None:
    if firing.ctx.cancels.cancel(run_id):
        firing.logger.info("cancel: run %s is being stopped", run_id)
        return
    for name, queue in firing.buffered.items():
        for row in list(queue):
            if row.id == run_id:
                queue.remove(row)
                firing.ctx.store.update_run(replace(row, state=RunState.CANCELLED, reason="cancelled", ended=now))
                firing.logger.info("cancel: queued run %s of %s cancelled", run_id, name)
                return
    for name, entries in firing.adopted.items():
        if run_id in entries:
            firing.stop_adopted(run_id, entries[run_id], "cancelled")
            firing.logger.info("cancel: adopted run %s of %s sent SIGTERM", run_id, name)
            return
    firing.logger.warning("cancel: run %s is not running here", run_id)
