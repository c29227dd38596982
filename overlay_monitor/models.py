"""Typed models every backend produces and every view consumes. Pure: no I/O, no rclpy."""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum


class LinkState(str, Enum):
    """How traffic to a peer travels. Values are the strings ``overlay-status --json`` prints."""

    UNKNOWN = "unknown"
    DIRECT = "direct"
    DERP = "derp"
    PEER_RELAY = "peer-relay"
    IDLE = "idle"
    OFFLINE = "offline"

    @property
    def msg_constant(self) -> int:
        """The matching overlay_msgs/PeerStatus STATE_* value."""
        return _MSG_CONSTANTS[self]


_MSG_CONSTANTS = {LinkState.UNKNOWN: 0, LinkState.DIRECT: 1, LinkState.DERP: 2,
                  LinkState.PEER_RELAY: 3, LinkState.IDLE: 4, LinkState.OFFLINE: 5}

NAN = math.nan


@dataclass
class Peer:
    """One overlay member as a backend reports it (also used for the local node itself)."""

    hostname: str
    public_key: str = ""
    dns_name: str = ""
    overlay_ips: list[str] = field(default_factory=list)
    os: str = ""
    tags: list[str] = field(default_factory=list)
    online: bool = False
    state: LinkState = LinkState.UNKNOWN
    derp_region: str = ""
    endpoint: str = ""
    rtt_ms: float = NAN
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_bytes_per_s: float = NAN
    tx_bytes_per_s: float = NAN
    last_handshake: datetime | None = None
    last_seen: datetime | None = None
    expired: bool = False  # the node key has expired (Tailscale); the peer cannot connect

    @property
    def key(self) -> str:
        """Stable identity across samples (public key, else first overlay IP, else hostname)."""
        return self.public_key or (self.overlay_ips[0] if self.overlay_ips else self.hostname)


_PEER_FIELDS = operator.attrgetter(*(f.name for f in fields(Peer)))
_PEER_LISTS = tuple(i for i, f in enumerate(fields(Peer)) if str(f.type).startswith("list"))
_PEER_FLOATS = tuple(i for i, f in enumerate(fields(Peer)) if str(f.type) == "float")


def peer_fingerprint(peer: Peer) -> tuple[object, ...]:
    """Every field of a peer, as a hashable key (caches reuse unchanged results).

    Derived from the dataclass, so a new field is part of it without anyone remembering to add
    it: lists become tuples, and NaN becomes None (NaN never equals itself).
    """
    values = list(_PEER_FIELDS(peer))
    for i in _PEER_LISTS:
        values[i] = tuple(values[i])
    for i in _PEER_FLOATS:
        if values[i] != values[i]:
            values[i] = None
    return tuple(values)


@dataclass
class OverlaySnapshot:
    """Everything one poll of a backend found."""

    backend: str
    backend_state: str
    reachable: bool
    self_peer: Peer | None
    peers: list[Peer] = field(default_factory=list)
    health: list[str] = field(default_factory=list)
    taken_at: datetime | None = None
    version: str = ""  # backend version, e.g. tailscaled's long version
    error: str = ""  # why the backend could not be read (reachable is False)
    #: UDP usable on this network (tailscaled's netcheck): True, False (blocked: DERP only),
    #: None (unknown: no netcheck yet, or not a Tailscale backend)
    udp: bool | None = None
    #: this machine's own endpoints (ip:port) as tailscaled advertises them; a change is a roam
    self_endpoints: tuple[str, ...] = ()

    @property
    def home_derp(self) -> str:
        """This client's preferred DERP region (empty when unknown)."""
        return self.self_peer.derp_region if self.self_peer else ""

    def udp_text(self) -> str:
        """One phrase for views: what UDP availability means for the links."""
        if self.udp is None:
            return ""
        if self.udp:
            return "UDP available"
        return (f"UDP blocked: DERP only ({self.home_derp})" if self.home_derp
                else "UDP blocked: DERP only")
