"""Parse ``wg show <interface> dump`` and turn it into overlay models. Pure.

Format (wireguard-tools, wg(8) "dump"): tab-separated; the first line is the interface
(private key, public key, listen port, fwmark), every further line a peer (public key, preshared
key, endpoint, allowed IPs, latest handshake as Unix seconds with 0 for never, rx bytes, tx bytes,
persistent keepalive seconds or "off"). The interface's private key is dropped while parsing and
never stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import InputError
from .models import LinkState, OverlaySnapshot, Peer

#: WireGuard drops a session this long after its handshake (REJECT_AFTER_TIME, whitepaper §6.1).
REJECT_AFTER_S = 180.0


@dataclass(frozen=True)
class WireGuardPeer:
    public_key: str
    endpoint: str            # "" when none
    allowed_ips: tuple[str, ...]
    latest_handshake: datetime | None
    rx_bytes: int
    tx_bytes: int
    keepalive_s: int         # 0 when off


@dataclass(frozen=True)
class WireGuardDump:
    interface: str
    public_key: str
    listen_port: int
    peers: tuple[WireGuardPeer, ...]


def _int_field(value: str, what: str, line_no: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"wg dump line {line_no}: {what} {value!r} is not an integer") from None
    if number < 0:
        raise InputError(f"wg dump line {line_no}: {what} {number} is negative")
    return number


def parse_wg_dump(text: str, interface: str) -> WireGuardDump:
    """Parse the output of ``wg show INTERFACE dump``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"wg dump of {interface!r} is empty (expected an interface line)")
    head = lines[0].split("\t")
    if len(head) != 4:
        raise InputError(f"wg dump line 1 has {len(head)} fields (expected 4: private key, "
                         "public key, listen port, fwmark)")
    public_key, listen_port = head[1], _int_field(head[2], "listen port", 1)
    del head  # holds the private key
    peers = []
    for line_no, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 8:
            raise InputError(f"wg dump line {line_no} has {len(fields)} fields (expected 8)")
        handshake = _int_field(fields[4], "latest handshake", line_no)
        keepalive = fields[7]
        peers.append(WireGuardPeer(
            public_key=fields[0],
            endpoint="" if fields[2] == "(none)" else fields[2],
            allowed_ips=() if fields[3] == "(none)" else tuple(fields[3].split(",")),
            latest_handshake=(datetime.fromtimestamp(handshake, tz=timezone.utc)
                              if handshake else None),
            rx_bytes=_int_field(fields[5], "rx bytes", line_no),
            tx_bytes=_int_field(fields[6], "tx bytes", line_no),
            keepalive_s=0 if keepalive == "off" else _int_field(keepalive, "keepalive", line_no)))
    return WireGuardDump(interface=interface, public_key=public_key, listen_port=listen_port,
                         peers=tuple(peers))


def classify_wireguard_peer(peer: WireGuardPeer, now: datetime) -> LinkState:
    """Plain WireGuard has no relays: a live session is direct.

    A handshake younger than REJECT_AFTER_S means a live session (direct). Without one, a peer
    with persistent keepalive should have handshaken (keepalives keep traffic flowing), so it is
    offline; without keepalive, no traffic simply means idle.
    """
    if peer.latest_handshake is not None:
        age = (now - peer.latest_handshake).total_seconds()
        if age <= REJECT_AFTER_S:
            return LinkState.DIRECT
    return LinkState.OFFLINE if peer.keepalive_s else LinkState.IDLE


def handshake_age_s(peer: WireGuardPeer, now: datetime) -> float:
    if peer.latest_handshake is None:
        return float("inf")
    return max(0.0, (now - peer.latest_handshake).total_seconds())


def _ips(allowed_ips: tuple[str, ...]) -> list[str]:
    """Host routes (/32, /128) are the peer's own addresses."""
    return [net.split("/")[0] for net in allowed_ips if net.endswith(("/32", "/128"))]


def snapshot_from_dump(dump: WireGuardDump, now: datetime,
                       names: dict[str, str] | None = None, self_ips: tuple[str, ...] = (),
                       self_name: str = "") -> OverlaySnapshot:
    """Turn a dump into a snapshot; ``names`` maps public keys (or overlay IPs) to hostnames.

    ``self_ips`` are the interface's own addresses (a dump does not carry them); the local
    member is named from ``names`` (its key or address), else ``self_name``, else the interface.
    """
    names = names or {}
    peers = []
    for wg_peer in dump.peers:
        ips = _ips(wg_peer.allowed_ips)
        state = classify_wireguard_peer(wg_peer, now)
        hostname = names.get(wg_peer.public_key) or next(
            (names[ip] for ip in ips if ip in names), ips[0] if ips else wg_peer.public_key[:8])
        peers.append(Peer(
            hostname=hostname, public_key=wg_peer.public_key, overlay_ips=ips,
            online=state is LinkState.DIRECT, state=state,
            endpoint=wg_peer.endpoint if state is LinkState.DIRECT else "",
            rx_bytes=wg_peer.rx_bytes, tx_bytes=wg_peer.tx_bytes,
            last_handshake=wg_peer.latest_handshake))
    own_name = names.get(dump.public_key) or next(
        (names[ip] for ip in self_ips if ip in names), self_name or dump.interface)
    self_peer = Peer(hostname=own_name, public_key=dump.public_key, overlay_ips=list(self_ips),
                     online=True, state=LinkState.DIRECT)
    return OverlaySnapshot(backend="wireguard", backend_state="Running", reachable=True,
                           self_peer=self_peer, peers=peers, taken_at=now)
