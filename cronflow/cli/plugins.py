"""``cronflow plugins``: every plugin, whatever its state, with its version, hooks and names."""

from __future__ import annotations

import json
from typing import Any

import click

_LABELS = {
    "register_notifiers": "notifiers",
    "register_retry_policies": "retry policies",
    "register_triggers": "triggers",
    "register_schedules": "schedules",
    "register_commands": "commands",
    "register_executors": "executors",
}


def format_plugins(info: list[dict[str, Any]]) -> str:
    """The text listing: one block per plugin, its state on its first line unless loaded."""
    lines: list[str] = []
    for item in info:
        origin = "built-in" if item["builtin"] else (item["distribution"] or item.get("origin") or "entry point")
        version = f" {item['version']}" if item["version"] else ""
        state = item.get("state", "loaded")
        marker = "" if state == "loaded" else f" [{state}]"
        lines.append(f"{item['name']}{version} ({origin}){marker}")
        if state == "disabled":
            lines.append(f"  not loaded: {item.get('reason') or 'disabled'}")
            continue
        if state == "failed":
            lines.append(f"  failed to load: {item['error']}")
            continue
        lines.append(f"  hooks: {', '.join(item['hooks']) or '-'}")
        for hook, names in item["provides"].items():
            lines.append(f"  {_LABELS.get(hook, hook)}: {', '.join(names)}")
        if item["error"]:
            lines.append(f"  error: {item['error']}")
    return "\n".join(lines)


def cli_plugins() -> Any:
    """The plugin manager of a command line: the plugins of the settings of its
    ``--config`` / ``--jobs-dir`` (the built-in defaults when those settings have errors:
    the verbs that read them report those)."""
    from cronflow.cli.config import verb_settings
    from cronflow.core.settings import Settings
    from cronflow.errors import CronflowError
    from cronflow.plugins.host import load_plugins

    try:
        settings = verb_settings()
    except CronflowError:
        settings = Settings()
    return load_plugins(settings)


@click.command(name="plugins")
@click.option("--json", "json_", is_flag=True, help="Print one JSON document.")
def plugins(json_: bool) -> None:
    """List every plugin (built-in and third-party) with its state and the hooks it
    implements: loaded, clashing (a name it registers is also another plugin's, so it
    is refused), disabled, or failed (with the error).

    Set CRONFLOW_DISABLE_PLUGINS="name,other" to block plugins by name.
    """
    from cronflow.plugins import build_registry, plugin_info

    from cronflow.plugins.commands import collect_commands

    pm = cli_plugins()
    info = plugin_info(pm, registry=build_registry(pm))
    root = click.get_current_context().find_root()
    commands = collect_commands(pm, builtin=root.command.list_commands(root) if isinstance(root.command, click.Group)
                                else ())
    for item in info:
        # the commands a plugin adds are listed with the names it registers
        if item["name"] in commands.added:
            item["provides"]["register_commands"] = sorted(commands.added[item["name"]])
        problems = commands.problems.get(item["name"])
        if problems:
            item["error"] = "; ".join(filter(None, [item["error"], *problems]))
    if json_:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(format_plugins(info))
