"""What the rqt panel shows, computed without Qt: rows, colours, sorting and staleness. Pure."""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import LinkState, OverlaySnapshot
from .table import age_text, human_bytes, state_text

COLUMNS = ("peer", "overlay IP", "state", "RTT", "rx/s", "tx/s", "handshake")
#: background colour per state (RGB hex), as in the terminal table and the rviz markers
STATE_COLOURS = {LinkState.DIRECT: "#2e9e44", LinkState.DERP: "#e0a800",
                 LinkState.PEER_RELAY: "#17a2b8", LinkState.IDLE: "#5c7cfa",
                 LinkState.OFFLINE: "#d9363e", LinkState.UNKNOWN: "#8e8e8e"}


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    sort_keys: tuple[Any, ...]
    state: LinkState

    @property
    def colour(self) -> str:
        return STATE_COLOURS[self.state]


def _num_key(value: float) -> tuple[int, float]:
    return (1, 0.0) if math.isnan(value) else (0, value)  # unknown values sort last


def _ip_key(addresses: list[str]) -> tuple[int, int]:
    try:
        address = ipaddress.ip_address(addresses[0])
        return (address.version, int(address))
    except (IndexError, ValueError):
        return (9, 0)


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{human_bytes(value)}/s"


def rows(snapshot: OverlaySnapshot, now: datetime) -> list[Row]:
    result = []
    for peer in snapshot.peers:
        age = math.inf if peer.last_handshake is None else (now - peer.last_handshake).total_seconds()
        result.append(Row(
            cells=(peer.hostname, peer.overlay_ips[0] if peer.overlay_ips else "-",
                   state_text(peer), "-" if math.isnan(peer.rtt_ms) else f"{peer.rtt_ms:.1f} ms",
                   _rate(peer.rx_bytes_per_s), _rate(peer.tx_bytes_per_s),
                   age_text(peer.last_handshake, now)),
            sort_keys=(peer.hostname, _ip_key(peer.overlay_ips),
                       list(LinkState).index(peer.state), _num_key(peer.rtt_ms),
                       _num_key(peer.rx_bytes_per_s), _num_key(peer.tx_bytes_per_s), age),
            state=peer.state))
    return result


def sort_rows(table: list[Row], column: int, descending: bool = False) -> list[Row]:
    if not 0 <= column < len(COLUMNS):
        raise ValueError(f"column {column} is out of range (0..{len(COLUMNS) - 1})")
    return sorted(table, key=lambda r: r.sort_keys[column], reverse=descending)


def client_line(snapshot: OverlaySnapshot | None) -> str:
    if snapshot is None:
        return "waiting for /overlay_monitor/status …"
    me = snapshot.self_peer
    name = me.hostname if me else "?"
    ips = ", ".join(me.overlay_ips) if me and me.overlay_ips else ""
    udp = f", {snapshot.udp_text()}" if snapshot.udp is not None else ""
    return (f"{name} {ips} — {snapshot.backend} {snapshot.backend_state}, "
            f"{len(snapshot.peers)} peer(s){udp}")


def is_stale(last_message_s: float | None, now_s: float, stale_after_s: float,
             snapshot: OverlaySnapshot | None) -> bool:
    """STALE: nothing heard from the monitor for ``stale_after_s``, or it says the backend is
    unreadable."""
    if last_message_s is None or now_s - last_message_s > stale_after_s:
        return True
    return snapshot is not None and not snapshot.reachable
