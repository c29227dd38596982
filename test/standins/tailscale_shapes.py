"""Build ipnstate.Status / PeerStatus / PingResult JSON exactly as tailscaled serialises them.

Shapes follow what tailscaled 1.102.5 under headscale 0.29.2 and 0.29.3 serialised in the lab
(test/fixtures/real/, checked by test_standins_match_real.py): Go field names as keys, ``Peer``
keyed by ``nodekey:<64 hex>``, ``ID`` the headscale node id as a string and ``NodeID`` as a
number, ``User`` keyed by the decimal user ID (tagged nodes belong to headscale's
"tagged-devices" user), RFC 3339 times with the Go zero time ``0001-01-01T00:00:00Z`` for "never",
``Addrs`` null (headscale sends no endpoints), ``PeerRelay`` always present ("" when unused),
``Tags`` only on tagged nodes, ``KeyExpiry`` only on untagged ones. ``client="old"`` imitates
clients from before ``ID`` and ``PeerRelay`` existed.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def go_time(offset: timedelta, now: datetime | None = None) -> str:
    """``now + offset`` as tailscaled writes times (RFC 3339, UTC, nanoseconds): the shapes'
    times follow the clock, so nothing here passes into the past as the calendar moves on."""
    when = (now or datetime.now(timezone.utc)) + offset
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}000Z"

NEW_VERSION = "1.102.5-overlay"
#: headscale's user id for tagged nodes ("tagged-devices")
TAGGED_USER_ID = 2147455555
OLD_VERSION = "1.32.3-t9f5e4b5c6-g8a1b2c3d4"


def node_key(name: str) -> str:
    return "nodekey:" + hashlib.sha256(name.encode()).hexdigest()


def peer_status(hostname: str, ip: str, *, state: str = "direct", region: str = "campus",
                online: bool | None = None, rx: int = 0, tx: int = 0, tags: list[str] | None = None,
                client: str = "new", os_name: str = "linux", suffix: str = "fleet.example",
                last_handshake: str | None = None, expired: bool = False,
                user_id: int = 1) -> dict[str, Any]:
    """One PeerStatus. ``state``: direct, derp, peer-relay, idle (online, inactive), offline."""
    if online is None:
        online = state != "offline"
    if last_handshake is None:
        last_handshake = go_time(-timedelta(seconds=20))
    active = state in ("direct", "derp", "peer-relay")
    raw: dict[str, Any] = {}
    node_id = int(hashlib.sha256(hostname.encode()).hexdigest()[:4], 16)
    if client == "new":
        raw["ID"] = str(node_id)
        raw["NodeID"] = node_id
    suffix_v6 = ip.rsplit(".", 1)[1]
    raw.update({
        "PublicKey": node_key(hostname),
        "HostName": hostname,
        "DNSName": f"{hostname}.{suffix}.",
        "OS": os_name,
        "UserID": TAGGED_USER_ID if tags and client == "new" else user_id,
        "TailscaleIPs": [ip, f"fd7a:115c:a1e0::{suffix_v6}"],
        "AllowedIPs": [f"{ip}/32", f"fd7a:115c:a1e0::{suffix_v6}/128"],
    })
    if tags:
        raw["Tags"] = tags
    raw.update({
        "Addrs": None,
        "CurAddr": "198.51.100.7:41641" if state == "direct" else "",
        "Relay": region,
    })
    # PeerRelay (newer clients only): "" unless a peer relay carries the traffic
    if client == "new":
        raw["PeerRelay"] = "100.64.0.9:7777:vni:3" if state == "peer-relay" else ""
    raw.update({
        "RxBytes": rx,
        "TxBytes": tx,
        "Created": go_time(-timedelta(days=25)),
        "LastWrite": go_time(-timedelta(seconds=19)) if active else GO_ZERO_TIME,
        "LastSeen": GO_ZERO_TIME if online else go_time(-timedelta(hours=12)),
        "LastHandshake": last_handshake if state not in ("offline",) else GO_ZERO_TIME,
        "Online": online,
        "ExitNode": False,
        "ExitNodeOption": False,
        "Active": active,
        "PeerAPIURL": [f"http://{ip}:41234", f"http://[fd7a:115c:a1e0::{suffix_v6}]:41235"],
    })
    if client == "new":
        raw["TaildropTarget"] = 1
        raw["NoFileSharingReason"] = ""
    raw.update({"InNetworkMap": True, "InMagicSock": True, "InEngine": active})
    if expired:
        raw["Expired"] = True
    if not tags:
        raw["KeyExpiry"] = go_time(timedelta(days=175))
    return raw


_SELF_ORDER = ("ID", "NodeID", "PublicKey", "HostName", "DNSName", "OS", "UserID",
               "TailscaleIPs", "AllowedIPs", "Tags", "Addrs", "CurAddr", "Relay", "PeerRelay",
               "RxBytes", "TxBytes", "Created", "LastWrite", "LastSeen", "LastHandshake",
               "Online", "ExitNode", "ExitNodeOption", "Active", "PeerAPIURL", "TaildropTarget",
               "NoFileSharingReason", "Capabilities", "CapMap", "InNetworkMap", "InMagicSock",
               "InEngine", "Expired", "KeyExpiry")


def status(backend_state: str = "Running", *, self_name: str = "robot1",
           self_ip: str = "100.64.0.1", peers: list[dict[str, Any]] | None = None,
           health: list[str] | None = None, client: str = "new",
           suffix: str = "fleet.example", self_tags: list[str] | None = None) -> dict[str, Any]:
    """A whole ipnstate.Status. NeedsLogin and friends have no Self IPs and no peers."""
    running = backend_state == "Running"
    self_peer = peer_status(self_name, self_ip, state="direct", client=client, suffix=suffix,
                            tags=self_tags)
    self_peer.update({"CurAddr": "", "Active": False, "Addrs": ["198.18.1.2:41641"],
                      "InEngine": False, "Online": running})
    if client == "new":  # only the node itself carries its capabilities
        caps = ["https://tailscale.com/cap/file-sharing", "https://tailscale.com/cap/ssh"]
        self_peer["Capabilities"] = caps
        self_peer["CapMap"] = {cap: [] for cap in caps}
        self_peer = {k: self_peer[k] for k in _SELF_ORDER if k in self_peer}
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
        **({"ExtraRecords": None} if client == "new" else {}),
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
    """ipnstate.PingResult for a disco ping. 1.102 writes every field (empty when unused)."""
    raw: dict[str, Any] = {"IP": ip, "NodeIP": ip, "NodeName": "peer"}
    if client != "new":
        if err:
            raw["Err"] = err
            return raw
        raw["LatencySeconds"] = latency_s
        if path == "direct":
            raw["Endpoint"] = "198.51.100.7:41641"
        else:
            raw["DERPRegionID"] = region_id
            raw["DERPRegionCode"] = region_code
        return raw
    derp = path not in ("direct", "peer-relay") and not err
    raw.update({
        "Err": err,
        "LatencySeconds": 0 if err else latency_s,
        "Endpoint": "198.51.100.7:41641" if path == "direct" and not err else "",
        "PeerRelay": "100.64.0.9:7777:vni:3" if path == "peer-relay" and not err else "",
        "DERPRegionID": region_id if derp else 0,
        "DERPRegionCode": region_code if derp else "",
    })
    return raw
