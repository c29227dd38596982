"""What the monitor engine needs of a backend, and where tailscaled listens by default. Pure."""
from __future__ import annotations

from typing import Protocol

from ..models import OverlaySnapshot, Peer

#: tailscaled's LocalAPI socket on Linux (the one place this path is written)
DEFAULT_SOCKET = "/var/run/tailscale/tailscaled.sock"


class OverlayBackend(Protocol):
    """A source of overlay snapshots. Every attribute the monitor engine reads is here."""

    #: short backend name ("tailscale", "wireguard"), shown in statuses and errors
    name: str
    #: True when a failed RTT probe is the first sign that a peer is gone (plain WireGuard keeps
    #: showing a dead peer's last handshake for minutes), so the peer is reported offline then;
    #: False when the backend itself knows reachability (tailscaled does)
    probe_decides_reachability: bool

    def snapshot(self) -> OverlaySnapshot: ...

    def probe_rtt_ms(self, peer: Peer, timeout_s: float = ...) -> float: ...

    def close(self) -> None: ...
