"""One job's trigger, run on the triggers' loop (:mod:`cronflow.shell.daemon.triggerloop`),
started again with a growing delay when it fails (out of the job table, which is at the
module size limit)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from cronflow.errors import CronflowError
from cronflow.plugins.trace import traced

# a failed trigger is started again after this long, doubling up to the maximum
TRIGGER_RETRY_MIN = 2.0
TRIGGER_RETRY_MAX = 60.0


async def run_trigger(table: Any, name: str, spec: Any, registered: Any,
                      daemon_loop: asyncio.AbstractEventLoop) -> None:
    """Job ``name``'s trigger ``spec`` of plugin ``registered``: its fires cross to the
    daemon's loop (``table.on_trigger``); its failures go to ``table.logger``."""
    def fire(params: Mapping[str, str] | None = None) -> None:
        # from the triggers' loop, or from a thread of the trigger's own
        if table.on_trigger is not None:
            with contextlib.suppress(RuntimeError):  # the daemon's loop has closed
                daemon_loop.call_soon_threadsafe(table.on_trigger, name, params, spec.kind)

    # A trigger that fails (its watched directory does not exist yet, a server it
    # listens to is down) is started again with a growing delay, so it recovers by
    # itself once the cause is gone; the job's schedule is unaffected meanwhile.
    delay = TRIGGER_RETRY_MIN
    while True:
        try:
            trigger = traced(registered.plugin, f"trigger factory {spec.kind!r}",
                             lambda: registered.obj(dict(spec.config), fire), f" (job {name})")
            await trigger.run()
            return  # the trigger finished watching of its own accord
        except asyncio.CancelledError:
            raise
        except (OSError, ValueError, CronflowError) as exc:
            # an expected failure with a message of its own: one line, no traceback
            table.logger.error("plugin %s: trigger %r of job %s: %s; retrying in %gs",
                               registered.plugin, spec.kind, name, exc, delay)
        except Exception:
            table.logger.exception("plugin %s: trigger %r of job %s failed; retrying in %gs",
                                   registered.plugin, spec.kind, name, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, TRIGGER_RETRY_MAX)
