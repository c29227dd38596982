"""Build ipnstate.Status / PeerStatus / PingResult JSON exactly as tailscaled serialises them.

Shapes follow tailscale's ipn/ipnstate/ipnstate.go: Go field names as keys, ``Peer`` keyed by
``nodekey:<64 hex>``, ``User`` keyed by the decimal user ID, RFC 3339 times with the Go zero time
``0001-01-01T00:00:00Z`` for "never", ``Addrs`` null when unknown, omitempty fields left out when
empty. ``client="old"`` imitates clients from before ``ID`` and ``PeerRelay`` existed.
"""
from __future__ import annotations

import hashlib
from typing import Any

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
NEW_VERSION = "1.90.6-t0123456789-gabcdef012"
OLD_VERSION = "1.32.3-t9f5e4b5c6-g8a1b2c3d4"


def node_key(name: str) -> str:
    return "nodekey:" + hashlib.sha256(name.encode()).hexdigest()


def peer_status(hostname: str, ip: str, *, state: str = "direct", region: str = "campus",
                online: bool | None = None, rx: int = 0, tx: int = 0, tags: list[str] | None = None,
                client: str = "new", os_name: str = "linux", suffix: str = "fleet.example",
                last_handshake: str = "2026-11-26T10:00:00.123456789Z", expired: bool = False,
                user_id: int = 1) -> dict[str, Any]:
    """One PeerStatus. ``state``: direct, derp, peer-relay, idle (online, inactive), offline."""
    if online is None:
        online = state != "offline"
    active = state in ("direct", "derp", "peer-relay")
    raw: dict[str, Any] = {}
    if client == "new":
        raw["ID"] = "n" + hashlib.sha256(hostname.encode()).hexdigest()[:12] + "CNTRL"
    raw.update({
        "PublicKey": node_key(hostname),
        "HostName": hostname,
        "DNSName": f"{hostname}.{suffix}.",
        "OS": os_name,
        "UserID": user_id,
        "TailscaleIPs": [ip, "fd7a:115c:a1e0::" + ip.rsplit(".", 1)[1]],
        "AllowedIPs": [f"{ip}/32"],
    })
    if tags:
        raw["Tags"] = tags
    raw.update({
        "Addrs": ["198.51.100.7:41641", "10.1.2.3:41641"] if state != "offline" else None,
        "CurAddr": "198.51.100.7:41641" if state == "direct" else "",
        "Relay": region,
    })
    # PeerRelay (newer clients only) is "ip:port:vni:N" when a peer relay carries the traffic
    if client == "new" and state == "peer-relay":
        raw["PeerRelay"] = "100.64.0.9:7777:vni:3"
    raw.update({
        "RxBytes": rx,
        "TxBytes": tx,
        "Created": "2026-11-01T08:00:00Z",
        "LastWrite": "2026-11-26T10:00:01.5Z" if active else GO_ZERO_TIME,
        "LastSeen": GO_ZERO_TIME if online else "2026-11-25T22:10:00Z",
        "LastHandshake": last_handshake if state not in ("offline",) else GO_ZERO_TIME,
        "Online": online,
        "ExitNode": False,
        "ExitNodeOption": False,
        "Active": active,
        "PeerAPIURL": [f"http://{ip}:41234"],
        "InNetworkMap": True,
        "InMagicSock": True,
        "InEngine": active,
    })
    if client == "new":
        raw["Capabilities"] = ["https://tailscale.com/cap/file-sharing"]
        raw["CapMap"] = {"https://tailscale.com/cap/file-sharing": None}
    if expired:
        raw["Expired"] = True
    raw["KeyExpiry"] = "2027-05-25T08:00:00Z"
    return raw


def status(backend_state: str = "Running", *, self_name: str = "robot1",
           self_ip: str = "100.64.0.1", peers: list[dict[str, Any]] | None = None,
           health: list[str] | None = None, client: str = "new",
           suffix: str = "fleet.example") -> dict[str, Any]:
    """A whole ipnstate.Status. NeedsLogin and friends have no Self IPs and no peers."""
    running = backend_state == "Running"
    self_peer = peer_status(self_name, self_ip, state="direct", client=client, suffix=suffix)
    self_peer.update({"CurAddr": "", "Active": False, "Addrs": [], "InEngine": False,
                      "Online": running})
    peers = peers if running else []
    raw: dict[str, Any] = {
        "Version": NEW_VERSION if client == "new" else OLD_VERSION,
        "TUN": True,
        "BackendState": backend_state,
    }
    if client == "new":
        raw["HaveNodeKey"] = backend_state != "NoState"
    raw.update({
        "AuthURL": "" if backend_state != "NeedsLogin" else "https://headscale.example/register/nodekey:abc",
        "TailscaleIPs": [self_ip, "fd7a:115c:a1e0::1"] if running else None,
        "Self": self_peer,
        "Health": health or [],
        "MagicDNSSuffix": suffix,
        "CurrentTailnet": {"Name": "fleet", "MagicDNSSuffix": suffix, "MagicDNSEnabled": True}
        if running else None,
        "CertDomains": None,
        "Peer": {p["PublicKey"]: p for p in (peers or [])} or None,
        "User": {"1": {"ID": 1, "LoginName": "team-a@", "DisplayName": "team-a",
                       "ProfilePicURL": ""}},
    })
    if client == "new":
        raw["ClientVersion"] = None
    return raw


def ping_result(ip: str, *, latency_s: float | None = 0.0123, path: str = "direct",
                region_id: int = 999, region_code: str = "campus", err: str = "",
                client: str = "new") -> dict[str, Any]:
    """ipnstate.PingResult for a disco ping."""
    raw: dict[str, Any] = {"IP": ip, "NodeIP": ip, "NodeName": "peer"}
    if err:
        raw["Err"] = err
        return raw
    raw["LatencySeconds"] = latency_s
    if path == "direct":
        raw["Endpoint"] = "198.51.100.7:41641"
    elif path == "peer-relay" and client == "new":
        raw["PeerRelay"] = "100.64.0.9:7777:vni:3"
    else:
        raw["DERPRegionID"] = region_id
        raw["DERPRegionCode"] = region_code
    return raw
