"""cronflow-healthchecks: the ``healthchecks`` notifier.

Pings a healthchecks.io-compatible check: ``<url>/start`` when a run starts, ``<url>``
when it succeeds, ``<url>/<exit code>`` (or ``<url>/fail`` when there is none, e.g. a
timeout) when it fails, ``<url>/log`` for a failed attempt that will be retried. Each ping
carries ``rid`` (a UUID derived from the run id) so Healthchecks pairs start and end of
concurrent runs, and a body: a one-line summary and, on failure, the tail of the run's log.

Installed, it does nothing until a job file says ``via = "healthchecks"``.
"""

from __future__ import annotations

from cronflow import hookimpl

from cronflow_healthchecks.notifier import notify

__all__ = ["notify", "register_notifiers"]


@hookimpl
def register_notifiers(register):
    """Register the ``healthchecks`` notifier."""
    register("healthchecks", notify)
