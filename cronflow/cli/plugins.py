"""``cronflow plugins``: installed plugins, their versions, hooks and provided names."""

from __future__ import annotations

import json
from typing import Any

import click

_LABELS = {
    "register_notifiers": "notifiers",
    "register_retry_policies": "retry policies",
    "register_triggers": "triggers",
    "register_executors": "executors",
}


def format_plugins(info: list[dict[str, Any]]) -> str:
    """The text listing: one block per plugin."""
    lines: list[str] = []
    for item in info:
        origin = "built-in" if item["builtin"] else (item["distribution"] or "entry point")
        version = f" {item['version']}" if item["version"] else ""
        lines.append(f"{item['name']}{version} ({origin})")
        if item["error"]:
            lines.append(f"  failed to load: {item['error']}")
            continue
        lines.append(f"  hooks: {', '.join(item['hooks']) or '-'}")
        for hook, names in item["provides"].items():
            lines.append(f"  {_LABELS.get(hook, hook)}: {', '.join(names)}")
    return "\n".join(lines)


@click.command(name="plugins")
@click.option("--json", "json_", is_flag=True, help="Print one JSON document.")
def plugins(json_: bool) -> None:
    """List installed plugins (built-in and third-party) and the hooks they implement.

    Set CRONFLOW_DISABLE_PLUGINS="name,other" to block plugins by name.
    """
    from cronflow.errors import PluginError
    from cronflow.plugins import build_registry, get_plugin_manager, plugin_info

    pm = get_plugin_manager()
    info = plugin_info(pm)
    if json_:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(format_plugins(info))
    try:
        build_registry(pm)
    except PluginError as exc:  # listed first, so the user sees both plugins involved
        raise click.ClickException(str(exc)) from None
