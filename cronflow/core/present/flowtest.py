"""The text of ``cronflow test FLOW`` (pure): each unit's would-be state, then the flow's."""

from __future__ import annotations

from cronflow.core.flow.simulate import Verdict
from cronflow.core.present.text import format_table


def verdict_text(flow: str, verdict: Verdict) -> str:
    """A STEP / STATE / REASON table (``step[item]`` for a fan-out item) and the line
    ``flow NAME would end STATE (nothing was run)``."""
    rows = [[unit.name if unit.item is None else f"{unit.name}[{unit.item}]", unit.state.value, unit.reason or ""]
            for unit in verdict.steps]
    table = format_table(("STEP", "STATE", "REASON"), rows)
    return f"{table}\nflow {flow} would end {verdict.state.value} (nothing was run)"
