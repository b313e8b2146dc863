"""What the files of one load of the job table share (:class:`LoadPass`), and the reload's
shortcut for a file whose meaning did not change (:func:`kept_as_is`).

At 100,000 files, what is per file and could be per load shows: the warnings' machine
lookups (``stat`` of ``/bin/true`` once, not once per file), the new job states (a few
``INSERT`` statements of 1,000 rows, not 100,000 of one, nor one of 100,000, which would
double the peak memory), the stored states (all read at the initial load, so a new job
needs no query). And a SIGHUP reload that parsed every file before installing any would
hold two copies of every definition at its peak.
"""

from __future__ import annotations

from typing import Any

from cronflow.model import Definition, JobState
from cronflow.plugins.names import uses_plugins
from cronflow.shell.checks import cached_lookups

STATES_SLICE = 1000


class LoadPass:
    """One load's shared lookups and pending job states; ``all_states``: every stored
    state is cached already (the initial load), so a job not among them has none."""

    __slots__ = ("all_states", "lookups", "states", "store")

    def __init__(self, store: Any, *, all_states: bool) -> None:
        self.store = store
        self.all_states = all_states
        self.lookups = cached_lookups()
        self.states: list[JobState] = []

    def changed(self, state: JobState) -> None:
        """Write ``state`` with the others of this load (in slices, inside its batch)."""
        self.states.append(state)
        if len(self.states) >= STATES_SLICE:
            self.flush()

    def flush(self) -> None:
        """Write the pending states now."""
        if self.states:
            self.store.set_job_states(self.states)
            self.states = []


def kept_as_is(table: Any, definition: Definition) -> bool:
    """At a reload: whether ``definition`` means what the table runs for its file already,
    with no plugin table to check again (the plugins may have changed at a SIGHUP), so
    that installing it would change nothing. Then it is taken at once (its bytes may
    differ, a comment: runs record the new hash) instead of being held until every file
    of the reload is parsed."""
    name = definition.name
    previous = table.definitions.get(name)
    if (previous is None or table.by_path.get(definition.path) != name or definition.path in table.errors
            or uses_plugins(definition) or previous != definition):
        return False
    if previous.file_hash != definition.file_hash:
        table.definitions[name] = definition
    return True
