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

import functools
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, get_args

import msgspec

from .errors import InputError
from .models import LinkState, OverlaySnapshot, Peer

#: ipn.State values, in tailscaled's order
BackendStateName = Literal["NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
                          "Stopped", "Starting", "Running"]
BACKEND_STATES: tuple[str, ...] = get_args(BackendStateName)
_GO_ZERO_TIME_PREFIX = "0001-01-01"
_FRACTION = re.compile(r"\.\d+")


def parse_go_time(value: Any, where: str) -> datetime | None:
    """RFC 3339 time as Go marshals it; the zero time and null mean None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: {value!r} is not an RFC 3339 time string")
    try:
        return _parse_time_text(value)
    except ValueError as err:
        raise InputError(f"{where}: {value!r} is not an RFC 3339 time") from err


@functools.lru_cache(maxsize=16384)
def _parse_time_text(value: str) -> datetime | None:
    """Cached: the same timestamps come back in every poll."""
    if value.startswith(_GO_ZERO_TIME_PREFIX):
        return None
    # Go prints up to nanoseconds; Python's fromisoformat takes at most microseconds
    text = _FRACTION.sub(lambda m: m.group(0)[:7], value.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class _PeerStatusJSON(msgspec.Struct, frozen=True):
    """The PeerStatus fields the monitor reads (others are ignored); all optional."""

    HostName: str = ""
    PublicKey: str = ""
    DNSName: str = ""
    OS: str = ""
    TailscaleIPs: list[str] | None = None
    Tags: list[str] | None = None
    CurAddr: str = ""
    Addrs: list[str] | None = None   # Self: this machine's own endpoints (peers: null)
    Relay: str = ""
    PeerRelay: str = ""        # newer clients only
    RxBytes: NonNegative = 0
    TxBytes: NonNegative = 0
    LastSeen: str | None = None
    LastHandshake: str | None = None
    Online: bool = False
    Active: bool = False
    Expired: bool = False
    ShareeNode: bool = False


class _StatusJSON(msgspec.Struct, frozen=True):
    BackendState: BackendStateName
    Version: str = ""
    TailscaleIPs: list[str] | None = None
    Self: _PeerStatusJSON | None = None
    Health: list[str] | None = None
    Peer: dict[str, _PeerStatusJSON] | None = None


_STATUS_DECODER = msgspec.json.Decoder(_StatusJSON)


def classify_tailscale_peer(raw: dict[str, Any] | _PeerStatusJSON) -> LinkState:
    """The link state of a PeerStatus, as the tailscale CLI prints it, except that a peer the
    coordination server reports offline is offline even while this node still sends to it (the
    CLI prints "active; relay …; offline" then: seen in the lab after a robot's tailscaled
    stopped under traffic)."""
    fields = raw if isinstance(raw, _PeerStatusJSON) else msgspec.convert(raw, _PeerStatusJSON)
    if not fields.Online:
        return LinkState.OFFLINE
    if not fields.Active:
        return LinkState.IDLE
    if fields.CurAddr:
        return LinkState.DIRECT
    if fields.PeerRelay:
        return LinkState.PEER_RELAY
    return LinkState.DERP


def _peer(raw: _PeerStatusJSON, where: str) -> Peer:
    state = classify_tailscale_peer(raw)
    endpoint = ""
    if state is LinkState.DIRECT:
        endpoint = raw.CurAddr
    elif state is LinkState.PEER_RELAY:
        endpoint = raw.PeerRelay
    return Peer(hostname=raw.HostName, public_key=raw.PublicKey, dns_name=raw.DNSName,
                overlay_ips=list(raw.TailscaleIPs or ()), os=raw.OS, tags=list(raw.Tags or ()),
                online=raw.Online, state=state, derp_region=raw.Relay, endpoint=endpoint,
                rx_bytes=raw.RxBytes, tx_bytes=raw.TxBytes,
                last_handshake=parse_go_time(raw.LastHandshake, f"{where}.LastHandshake"),
                last_seen=parse_go_time(raw.LastSeen, f"{where}.LastSeen"),
                expired=raw.Expired)


def _validation_error(err: msgspec.MsgspecError) -> InputError:
    text = str(err)
    if "Object missing required field `BackendState`" in text and " - at " not in text:
        return InputError("not a Tailscale status: expected a JSON object with BackendState "
                          "(the output of 'tailscale status --json')")
    if text.startswith("Expected `object`, got") and " - at " not in text:
        return InputError(f"not a Tailscale status: {text}; expected the output of "
                          "'tailscale status --json'")
    if text.endswith("`$.BackendState`"):
        text += f" (expected one of {', '.join(BACKEND_STATES)})"
    return InputError(f"not a valid Tailscale status: {text}")


def snapshot_from_status(raw: Any, taken_at: datetime | None = None) -> OverlaySnapshot:
    """Parse an ipnstate.Status: a decoded JSON object, or the JSON text/bytes itself
    (the LocalAPI status, or ``tailscale status --json``). Every bad field is named by its
    JSON path."""
    try:
        if isinstance(raw, (bytes, str)):
            status = _STATUS_DECODER.decode(raw)
        else:
            status = msgspec.convert(raw, _StatusJSON)
    except msgspec.DecodeError as err:
        if isinstance(err, msgspec.ValidationError):
            raise _validation_error(err) from None
        raise InputError(f"not JSON: {err}") from None
    state = status.BackendState
    self_peer = _peer(status.Self, "Self") if status.Self is not None else None
    if self_peer is not None:
        # the local node is not "active" towards itself; report it by the backend state
        self_peer.state = LinkState.DIRECT if state == "Running" else LinkState.OFFLINE
        self_peer.online = state == "Running"
        if not self_peer.overlay_ips:
            self_peer.overlay_ips = list(status.TailscaleIPs or ())
    peers = [_peer(value, f"Peer[{key!r}]") for key, value in (status.Peer or {}).items()
             if not value.ShareeNode]
    return OverlaySnapshot(backend="tailscale", backend_state=state, reachable=True,
                           self_peer=self_peer, peers=peers, health=list(status.Health or ()),
                           taken_at=taken_at, version=status.Version,
                           self_endpoints=tuple(status.Self.Addrs or ()) if status.Self else ())


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


class _PingResultJSON(msgspec.Struct, frozen=True):
    IP: str = ""
    Err: str = ""
    LatencySeconds: float | None = None
    Endpoint: str = ""
    PeerRelay: str = ""
    DERPRegionCode: str = ""


def ping_from_json(raw: Any, ip: str) -> PingOutcome:
    try:
        result = msgspec.convert(raw, _PingResultJSON)
    except msgspec.ValidationError as err:
        raise InputError(f"ping {ip}: not a PingResult: {err}") from None
    failed = bool(result.Err) or not result.LatencySeconds
    return PingOutcome(ip=result.IP or ip,
                       latency_ms=math.nan if failed else float(result.LatencySeconds or 0) * 1000,
                       endpoint=result.Endpoint, peer_relay=result.PeerRelay,
                       derp_region=result.DERPRegionCode, error=result.Err)
