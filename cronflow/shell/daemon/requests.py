"""Control requests from the CLI (``force``, ``pause``/``resume``, ``cancel``), as the
daemon acts on them once read from the spool (:mod:`cronflow.shell.spool`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from cronflow.shell.daemon.firing import Firing
from cronflow.shell.daemon.jobtable import JobTable
from cronflow.shell.spool import Request, request_id


def handle_request(request: Request, *, firing: Firing, table: JobTable, logger: logging.Logger,
                   now: datetime) -> None:
    """Act on one control request (durably, before the caller deletes it)."""
    if request.kind == "force":
        logger.info("force: %s (request %s)", request.target, request_id(request.path) if request.path else "-")
        deselected = _deselected(table, request, logger=logger)
        if deselected is not None:
            firing.fire_now(request.target, request.params, "force", now=now, deselected=deselected)
    elif request.kind in ("pause", "resume"):
        _pause(table, request, logger=logger)
    elif request.kind == "cancel":
        _cancel(firing, request.target, logger=logger, now=now)
    else:
        logger.error("spool: unknown request kind %r ignored", request.kind)


def _deselected(table: JobTable, request: Request, *, logger: logging.Logger) -> frozenset[str] | None:
    """The steps a forced flow run leaves out (``force FLOW --only/--skip``); None (the
    request is refused, logged) when they name no step of the flow as loaded now."""
    if not (request.only or request.skip):
        return frozenset()
    from cronflow.core.flow.plan import select_steps
    from cronflow.model import Flow

    flow = table.definitions.get(request.target)
    if not isinstance(flow, Flow):
        logger.error("force %s: --only/--skip are for flows; request ignored", request.target)
        return None
    try:
        return select_steps(flow, only=request.only, skip=request.skip)
    except ValueError as exc:
        logger.error("force %s: %s; request ignored", request.target, exc)
        return None


def _pause(table: JobTable, request: Request, *, logger: logging.Logger) -> None:
    if request.by_tag:
        names = table.tagged(request.target)
        if not names:
            logger.warning("%s --tag %s: no loaded job has this tag", request.kind, request.target)
    else:
        names = [request.target]
        if request.target not in table.definitions:
            logger.warning("%s %s: no such job is loaded (recorded anyway)", request.kind, request.target)
    until = datetime.fromisoformat(request.until).astimezone(timezone.utc) if request.until else None
    pause = request.kind == "pause"
    table.set_paused(names, paused=pause, until=until)
    for name in names:
        logger.info("job %s: %s%s", name, "paused" if pause else "resumed",
                    f" until {until.isoformat()}" if until else "")


def _cancel(firing: Firing, run_id: str, *, logger: logging.Logger, now: datetime) -> None:
    if firing.cancel_running(run_id):
        logger.info("cancel: run %s is being stopped", run_id)
        return
    row = firing.buffers.cancel(run_id, reason="cancelled", now=now)
    if row is not None:
        logger.info("cancel: queued run %s of %s cancelled", run_id, row.job)
        return
    name = firing.adopted.find(run_id)
    if name is not None:
        firing.adopted.stop(run_id, "cancelled")
        logger.info("cancel: adopted run %s of %s sent SIGTERM", run_id, name)
        return
    logger.warning("cancel: run %s is not running here", run_id)
