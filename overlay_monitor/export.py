"""Snapshots as plain JSON-able dicts (``overlay-status --json``, files other tools read). Pure.

Unknown numbers (NaN RTTs and rates) become null: JSON has no NaN.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from .models import OverlaySnapshot, Peer


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def peer_to_json(peer: Peer) -> dict[str, Any]:
    return {
        "hostname": peer.hostname,
        "dns_name": peer.dns_name,
        "ips": list(peer.overlay_ips),
        "os": peer.os,
        "tags": list(peer.tags),
        "state": peer.state.value,
        "derp_region": peer.derp_region,
        "endpoint": peer.endpoint,
        "rtt_ms": _number(peer.rtt_ms),
        "rx_bytes": peer.rx_bytes,
        "tx_bytes": peer.tx_bytes,
        "rx_bytes_per_s": _number(peer.rx_bytes_per_s),
        "tx_bytes_per_s": _number(peer.tx_bytes_per_s),
        "last_handshake": _time(peer.last_handshake),
        "last_seen": _time(peer.last_seen),
        "online": peer.online,
        "expired": peer.expired,
    }


def snapshot_to_json(snapshot: OverlaySnapshot) -> dict[str, Any]:
    return {
        "backend": snapshot.backend,
        "backend_state": snapshot.backend_state,
        "reachable": snapshot.reachable,
        "version": snapshot.version,
        "error": snapshot.error,
        "health": list(snapshot.health),
        "udp": snapshot.udp,
        "home_derp": snapshot.home_derp,
        "self": peer_to_json(snapshot.self_peer) if snapshot.self_peer else None,
        "peers": [peer_to_json(p) for p in sorted(snapshot.peers, key=lambda p: p.hostname)],
    }
