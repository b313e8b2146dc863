"""The ``[executor] kind = "ray"`` table: checked and turned into what the watcher sends.

Pure (no Ray import, no network): ``cronflow check``, the daemon's load and every run
start go through :func:`parse_config`, so a mistake is reported at the table's key
(``path:line: executor 'ray': num_cpus must be ...``) before anything is submitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cronflow.builtin.config import check_keys
from cronflow.durations import parse_size
from cronflow.errors import CronflowError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
KEYS = ("address", "num_cpus", "num_gpus", "memory", "resources", "runtime_env")


@dataclass(frozen=True, slots=True, kw_only=True)
class RayConfig:
    """One job's Ray settings: where to submit, what the entrypoint reserves, the
    ``runtime_env`` the remote process gets (the job's variables are added per run)."""

    address: str = DEFAULT_ADDRESS
    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None  # bytes
    resources: Mapping[str, float] = field(default_factory=dict)
    runtime_env: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What the watcher takes (``--config``): plain JSON values."""
        return {"address": self.address, "num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                "memory": self.memory, "resources": dict(self.resources),
                "runtime_env": dict(self.runtime_env)}


def _amount(config: Mapping[str, Any], key: str) -> float | None:
    if key not in config:
        return None
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} must be a number of at least 0, not {value!r}")
    return value


def parse_config(config: Mapping[str, Any]) -> RayConfig:
    """The table (without ``kind``) as a :class:`RayConfig`; ``ValueError`` with one line
    naming the key at fault."""
    check_keys(config, KEYS)
    address = config.get("address", DEFAULT_ADDRESS)
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address must be the cluster's job submission URL such as {DEFAULT_ADDRESS!r}")
    if "://" not in address:
        raise ValueError(f"address {address!r} must be a URL such as {DEFAULT_ADDRESS!r} "
                         "(the dashboard's job submission address, not the GCS port)")
    memory = None
    if "memory" in config:
        try:
            memory = parse_size(config["memory"])
        except CronflowError as exc:
            raise ValueError(f"memory: {exc}") from None
    resources = config.get("resources", {})
    if not isinstance(resources, Mapping):
        raise ValueError('resources must be a table such as { accelerator = 1 }')
    for name in resources:
        _amount(resources, name)
    runtime_env = config.get("runtime_env", {})
    if not isinstance(runtime_env, Mapping):
        raise ValueError('runtime_env must be a table such as { pip = ["requests"] }')
    env_vars = runtime_env.get("env_vars", {})
    if not isinstance(env_vars, Mapping) or not all(isinstance(v, str) for v in env_vars.values()):
        raise ValueError("runtime_env.env_vars must be a table of strings")
    return RayConfig(address=address.rstrip("/"), num_cpus=_amount(config, "num_cpus"),
                     num_gpus=_amount(config, "num_gpus"), memory=memory,
                     resources={name: float(resources[name]) for name in resources},
                     runtime_env=dict(runtime_env))
