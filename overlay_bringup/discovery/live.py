"""Own address and peer addresses from a backend snapshot. Pure."""
from __future__ import annotations

import ipaddress

from overlay_monitor.models import OverlaySnapshot


def ipv4_of(addresses: list[str]) -> str:
    for address in addresses:
        try:
            if ipaddress.ip_address(address).version == 4:
                return address
        except ValueError:
            continue
    return ""


def peer_addresses(snapshot: OverlaySnapshot) -> tuple[str, ...]:
    """IPv4 overlay addresses of every peer (offline ones too: they may come back), sorted."""
    found = {ipv4_of(p.overlay_ips) for p in snapshot.peers}
    found.discard("")
    return tuple(sorted(found, key=ipaddress.ip_address))


def self_address(snapshot: OverlaySnapshot) -> str:
    return ipv4_of(snapshot.self_peer.overlay_ips) if snapshot.self_peer else ""
