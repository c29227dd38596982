"""Turn tailscaled's LocalAPI JSON into overlay models. Pure.

Field names and meanings follow Tailscale's ``ipn/ipnstate`` (``Status``, ``PeerStatus``,
``PingResult``) as ``GET /localapi/v0/status`` and ``tailscale status --json`` serialise them:
Go field names as JSON keys, ``Peer`` keyed by ``nodekey:<hex>``, times in RFC 3339 with the Go
zero time ``0001-01-01T00:00:00Z`` meaning "never", ``Addrs`` null when unknown. ``PeerRelay``
and ``ID`` exist only in newer clients and are optional here.

Classification matches the tailscale CLI's own (``cmd/tailscale/cli/status.go``):
an active peer is *direct* when ``CurAddr`` is set, *peer-relay* when ``PeerRelay`` is set, and
otherwise *DERP*-relayed through region ``Relay``. An inactive peer is *offline* when not
``Online``, else *idle*. ``Relay`` alone is only the peer's home DERP region: it does not mean
the link is relayed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import InputError
from .models import LinkState, OverlaySnapshot, Peer

#: ipn.State values, in tailscaled's order
BACKEND_STATES = ("NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth", "Stopped",
                  "Starting", "Running")
_GO_ZERO_TIME_PREFIX = "0001-01-01"
_FRACTION = re.compile(r"\.\d+")


def parse_go_time(value: Any, where: str) -> datetime | None:
    """RFC 3339 time as Go marshals it; the zero time and null mean None."""
    if value in (None, "") or (isinstance(value, str) and value.startswith(_GO_ZERO_TIME_PREFIX)):
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: {value!r} is not an RFC 3339 time string")
    # Go prints up to nanoseconds; Python's fromisoformat takes at most microseconds
    text = _FRACTION.sub(lambda m: m.group(0)[:7], value.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise InputError(f"{where}: {value!r} is not an RFC 3339 time") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _str(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{where}.{key}: {value!r} is not a string")
    return value


def _int(raw: dict[str, Any], key: str, where: str) -> int:
    value = raw.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}.{key}: {value!r} is not a non-negative integer")
    return value


def _str_list(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}.{key}: {value!r} is not a list of strings")
    return list(value)


def classify_tailscale_peer(raw: dict[str, Any]) -> LinkState:
    """The link state the tailscale CLI would print for this PeerStatus."""
    if not raw.get("Active"):
        return LinkState.IDLE if raw.get("Online") else LinkState.OFFLINE
    if raw.get("CurAddr"):
        return LinkState.DIRECT
    if raw.get("PeerRelay"):
        return LinkState.PEER_RELAY
    return LinkState.DERP


def peer_from_json(raw: Any, where: str) -> Peer:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a PeerStatus object, got {type(raw).__name__}")
    state = classify_tailscale_peer(raw)
    relay = _str(raw, "Relay", where)
    endpoint = _str(raw, "CurAddr", where) if state is LinkState.DIRECT else ""
    if state is LinkState.PEER_RELAY:
        endpoint = _str(raw, "PeerRelay", where)
    return Peer(
        hostname=_str(raw, "HostName", where),
        public_key=_str(raw, "PublicKey", where),
        dns_name=_str(raw, "DNSName", where),
        overlay_ips=_str_list(raw, "TailscaleIPs", where),
        os=_str(raw, "OS", where),
        tags=_str_list(raw, "Tags", where),
        online=bool(raw.get("Online")),
        state=state,
        derp_region=relay,
        endpoint=endpoint,
        rx_bytes=_int(raw, "RxBytes", where),
        tx_bytes=_int(raw, "TxBytes", where),
        last_handshake=parse_go_time(raw.get("LastHandshake"), f"{where}.LastHandshake"),
        last_seen=parse_go_time(raw.get("LastSeen"), f"{where}.LastSeen"),
        expired=bool(raw.get("Expired")),
    )


def snapshot_from_status(raw: Any, taken_at: datetime | None = None) -> OverlaySnapshot:
    """Parse an ipnstate.Status object (LocalAPI status, or ``tailscale status --json``)."""
    if not isinstance(raw, dict) or "BackendState" not in raw:
        raise InputError("not a Tailscale status: expected a JSON object with BackendState "
                         "(the output of 'tailscale status --json')")
    state = raw["BackendState"]
    if state not in BACKEND_STATES:
        raise InputError(f"BackendState: {state!r} is not one of {', '.join(BACKEND_STATES)}")
    peers_raw = raw.get("Peer")
    peers_raw = {} if peers_raw is None else peers_raw
    if not isinstance(peers_raw, dict):
        raise InputError(f"Peer: expected an object keyed by node key, got {type(peers_raw).__name__}")
    self_raw = raw.get("Self")
    self_peer = peer_from_json(self_raw, "Self") if self_raw is not None else None
    if self_peer is not None:
        # the local node is not "active" towards itself; report it by the backend state
        self_peer.state = LinkState.DIRECT if state == "Running" else LinkState.OFFLINE
        self_peer.online = state == "Running"
        if not self_peer.overlay_ips:
            self_peer.overlay_ips = _str_list(raw, "TailscaleIPs", "Status")
    peers = [peer_from_json(value, f"Peer[{key!r}]") for key, value in peers_raw.items()
             if not (isinstance(value, dict) and value.get("ShareeNode"))]
    health = _str_list(raw, "Health", "Status")
    return OverlaySnapshot(backend="tailscale", backend_state=state, reachable=True,
                           self_peer=self_peer, peers=peers, health=health, taken_at=taken_at,
                           version=_str(raw, "Version", "Status"))


@dataclass(frozen=True)
class PingOutcome:
    """One disco ping (ipnstate.PingResult). ``latency_ms`` is NaN when it failed."""

    ip: str
    latency_ms: float
    endpoint: str
    peer_relay: str
    derp_region: str
    error: str

    @property
    def path(self) -> LinkState:
        if self.error or math.isnan(self.latency_ms):
            return LinkState.UNKNOWN
        if self.endpoint:
            return LinkState.DIRECT
        if self.peer_relay:
            return LinkState.PEER_RELAY
        return LinkState.DERP


def ping_from_json(raw: Any, ip: str) -> PingOutcome:
    if not isinstance(raw, dict):
        raise InputError(f"ping {ip}: expected a PingResult object, got {type(raw).__name__}")
    where = f"ping {ip}"
    error = _str(raw, "Err", where)
    latency = raw.get("LatencySeconds")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))):
        raise InputError(f"{where}.LatencySeconds: {latency!r} is not a number")
    latency_ms = float(latency) * 1000.0 if latency and not error else math.nan
    return PingOutcome(ip=_str(raw, "IP", where) or ip, latency_ms=latency_ms,
                       endpoint=_str(raw, "Endpoint", where),
                       peer_relay=_str(raw, "PeerRelay", where),
                       derp_region=_str(raw, "DERPRegionCode", where), error=error)
