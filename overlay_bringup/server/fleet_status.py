"""``overlay-server status``: the fleet as Headscale sees it, one row per node. Pure."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .headscale_api import HeadscaleNode

COLUMNS = ("node", "user", "tags", "addresses", "online", "last seen", "key expiry")


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _expiry(node: HeadscaleNode, now: datetime) -> str:
    if node.expiry is None:
        return "never (tagged)" if node.tags else "never"
    return "EXPIRED" if node.expiry <= now else f"{node.expiry:%Y-%m-%d}"


def status_rows(nodes: list[HeadscaleNode], now: datetime) -> list[tuple[str, ...]]:
    """Rows for the table, sorted by node name."""
    return [(n.name, n.user, ", ".join(n.tags) or "-", ", ".join(n.ip_addresses),
             "yes" if n.online else "no", "now" if n.online else _ago(n.last_seen, now),
             _expiry(n, now)) for n in sorted(nodes, key=lambda n: n.name)]


def status_json(nodes: list[HeadscaleNode]) -> list[dict[str, Any]]:
    return [{"id": n.id, "name": n.name, "user": n.user, "tags": list(n.tags),
             "addresses": list(n.ip_addresses), "online": n.online,
             "last_seen": n.last_seen.isoformat() if n.last_seen else None,
             "key_expiry": n.expiry.isoformat() if n.expiry else None}
            for n in sorted(nodes, key=lambda n: n.name)]
