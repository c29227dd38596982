"""A team's bridge policy as a file (``bundles/<team>/bridge.json``, written by generate): read
it with a clear error for each bad value. ``{robot}`` in the namespace becomes this robot's name.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from overlay_monitor.errors import InputError
from overlay_monitor.files import read_input

from .model import BridgePolicy

POLICY_FILE = "bridge.json"


def policy_from_json(data: Any, source: str, robot: str = "") -> BridgePolicy:
    if not isinstance(data, dict):
        raise InputError(f"{source}: a bridge policy is a JSON object (got {type(data).__name__})")
    unknown = sorted(set(data) - {"rule", "topics", "services", "actions", "max_rates",
                                  "namespace", "router"})
    if unknown:
        raise InputError(f"{source}: unknown bridge policy field(s) {', '.join(unknown)}")

    def patterns(name: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{source}: {name} must be a list of regular expressions")
        return tuple(value)

    rates = data.get("max_rates", {})
    if not isinstance(rates, dict) or not all(isinstance(v, (int, float)) for v in rates.values()):
        raise InputError(f"{source}: max_rates must map regular expressions to Hz")
    namespace = str(data.get("namespace", "")).replace("{robot}", robot)
    return BridgePolicy(rule=str(data.get("rule", "deny")), topics=patterns("topics"),
                        services=patterns("services"), actions=patterns("actions"),
                        max_rates=tuple((str(k), float(v)) for k, v in rates.items()),
                        namespace=namespace, router=str(data.get("router", "")))


def load_policy(path: str | Path, robot: str = "") -> BridgePolicy:
    text = read_input(path, "bridge policy")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not JSON ({err})") from None
    return policy_from_json(data, str(path), robot)
