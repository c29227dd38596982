"""Health rules: one diagnostic status per peer and one for the local client. Pure.

Levels are diagnostic_msgs/DiagnosticStatus's: OK 0, WARN 1, ERROR 2, STALE 3.
- OK: direct (or idle) with a fresh RTT under the warning threshold; client Running.
- WARN: relayed (DERP or peer relay), RTT above the warning threshold; client Starting, or
  Running with health warnings. A peer on DERP while a peer relay is configured for this node
  says "relay configured but not used", with the reason when one is known.
- ERROR: peer offline, RTT above the error threshold, expired node key; client NeedsLogin,
  NeedsMachineAuth, Stopped, NoState.
- STALE: the backend could not be read (every status, with the reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import InputError
from .models import LinkState, OverlaySnapshot, Peer, peer_fingerprint

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}
CLIENT_TASK = "client"


@dataclass(frozen=True)
class HealthThresholds:
    rtt_warn_ms: float = 150.0
    rtt_error_ms: float = 500.0

    def __post_init__(self) -> None:
        if not 0 < self.rtt_warn_ms <= self.rtt_error_ms:
            raise InputError(f"RTT thresholds: warn {self.rtt_warn_ms:g} ms and error "
                             f"{self.rtt_error_ms:g} ms must satisfy 0 < warn <= error")


@dataclass(frozen=True)
class Check:
    """One diagnostic status, independent of ROS (converted to DiagnosticStatus by the node)."""

    task: str                 # "client" or "peer <hostname>"
    level: int
    message: str
    hardware_id: str = ""
    values: tuple[tuple[str, str], ...] = field(default_factory=tuple)


#: the tag prefix of peer relays (``overlay-server generate`` tags relay R ``tag:relay-R``)
RELAY_TAG_PREFIX = "tag:relay-"

#: a configured peer relay seen in the netmap: (hostname, online)
RelaySeen = tuple[str, bool]


def configured_relays(snapshot: OverlaySnapshot) -> tuple[RelaySeen, ...]:
    """The peer relays in this node's netmap. The policy shows a relay to the members it
    serves only (its grant gives no IP access), so a relay in the netmap is one configured for
    this node."""
    return tuple((p.hostname, p.online) for p in snapshot.peers
                 if any(t.startswith(RELAY_TAG_PREFIX) for t in p.tags))


def _relay_unused(relays: tuple[RelaySeen, ...]) -> str:
    online = [name for name, up in relays if up]
    if not online:
        reason = f"relay {', '.join(name for name, _ in relays)} offline"
    else:
        reason = (f"{', '.join(online)} online: its UDP port is probably not reachable from "
                  "here or from the peer")
    return f"relay configured but not used ({reason})"


def _fmt_ms(value: float) -> str:
    return "unknown" if math.isnan(value) else f"{value:.1f}"


def peer_check(peer: Peer, thresholds: HealthThresholds,
               relays: tuple[RelaySeen, ...] = ()) -> Check:
    state = peer.state
    if peer.expired:
        level, message = ERROR, "node key expired: the peer must re-authenticate"
    elif state is LinkState.OFFLINE:
        level, message = ERROR, "offline"
    elif not math.isnan(peer.rtt_ms) and peer.rtt_ms > thresholds.rtt_error_ms:
        level, message = ERROR, f"RTT {peer.rtt_ms:.0f} ms above {thresholds.rtt_error_ms:g} ms"
    elif state is LinkState.DERP:
        level, message = WARN, f"relayed through DERP region {peer.derp_region or 'unknown'}"
        if relays and peer.hostname not in {name for name, _ in relays}:
            message += f"; {_relay_unused(relays)}"
    elif state is LinkState.PEER_RELAY:
        level, message = WARN, f"relayed through peer relay {peer.endpoint or 'unknown'}"
    elif not math.isnan(peer.rtt_ms) and peer.rtt_ms > thresholds.rtt_warn_ms:
        level, message = WARN, f"RTT {peer.rtt_ms:.0f} ms above {thresholds.rtt_warn_ms:g} ms"
    elif state is LinkState.IDLE:
        level, message = OK, "idle (no recent traffic)"
    elif state is LinkState.UNKNOWN:
        level, message = WARN, "link state unknown"
    else:
        level, message = OK, f"direct {peer.endpoint}".strip()
    values = (
        ("state", state.value),
        ("online", "yes" if peer.online else "no"),
        ("overlay address", ", ".join(peer.overlay_ips) or "none"),
        ("endpoint", peer.endpoint or "none"),
        ("DERP region", peer.derp_region or "none"),
        ("RTT ms", _fmt_ms(peer.rtt_ms)),
        ("rx bytes/s", _fmt_ms(peer.rx_bytes_per_s)),
        ("tx bytes/s", _fmt_ms(peer.tx_bytes_per_s)),
        ("last handshake", peer.last_handshake.isoformat(timespec="seconds")
         if peer.last_handshake else "never"),
    )  # byte counters, DNS name and tags are on the status topic
    return Check(task=f"peer {peer.hostname}", level=level, message=message,
                 hardware_id=peer.key, values=values)


_CLIENT_LEVELS = {"Running": OK, "Starting": WARN}


def client_check(snapshot: OverlaySnapshot) -> Check:
    state = snapshot.backend_state
    level = _CLIENT_LEVELS.get(state, ERROR)
    message = state
    if level == ERROR:
        hints = {"NeedsLogin": "not logged in: run the join step (overlay-join) with a valid key",
                 "NeedsMachineAuth": "waiting for an administrator to approve this machine",
                 "Stopped": "stopped: 'tailscale up' brings it back",
                 "NoState": "tailscaled has no state yet (starting, or not configured)"}
        message = f"{state}: {hints.get(state, 'not running')}"
    self_peer = snapshot.self_peer
    if self_peer is not None and self_peer.expired:
        level, message = ERROR, "node key expired: re-authenticate this machine"
    elif level == OK and snapshot.udp is False:
        region = f" (region {snapshot.home_derp})" if snapshot.home_derp else ""
        level, message = WARN, (f"UDP blocked on this network: every link goes through "
                                f"DERP{region}; expect relay speeds")
    elif level == OK and snapshot.health:
        level, message = WARN, f"Running with {len(snapshot.health)} health warning(s)"
    counts = {s: 0 for s in LinkState}
    for peer in snapshot.peers:
        counts[peer.state] += 1
    values = [("backend", snapshot.backend), ("backend state", state),
              ("version", snapshot.version or "unknown"),
              ("overlay address", ", ".join(self_peer.overlay_ips) if self_peer else "none"),
              ("peers", str(len(snapshot.peers))),
              ("UDP", {True: "available", False: "blocked", None: "unknown"}[snapshot.udp]),
              ("home DERP region", snapshot.home_derp or "unknown")]
    values += [(f"peers {s.value}", str(n)) for s, n in counts.items() if n]
    values += [(f"health {i + 1}", text) for i, text in enumerate(snapshot.health)]
    return Check(task=CLIENT_TASK, level=level, message=message,
                 hardware_id=self_peer.hostname if self_peer else "", values=tuple(values))


def snapshot_checks(snapshot: OverlaySnapshot, thresholds: HealthThresholds) -> list[Check]:
    relays = configured_relays(snapshot)
    return [client_check(snapshot)] + [peer_check(p, thresholds, relays) for p in snapshot.peers]


class CheckCache:
    """``snapshot_checks`` that reuses the check of every peer that did not change since the
    previous call (most peers of a large overlay are idle between two polls)."""

    def __init__(self) -> None:
        self._previous: dict[tuple[object, ...], Check] = {}

    def checks(self, snapshot: OverlaySnapshot, thresholds: HealthThresholds) -> list[Check]:
        current: dict[tuple[object, ...], Check] = {}
        result = [client_check(snapshot)]
        relays = configured_relays(snapshot)
        for peer in snapshot.peers:
            key = (thresholds, relays, *peer_fingerprint(peer))
            check = self._previous.get(key) or peer_check(peer, thresholds, relays)
            current[key] = check
            result.append(check)
        self._previous = current
        return result


def stale_checks(reason: str, known_peers: list[str]) -> list[Check]:
    """Every status STALE, with the reason, when the backend cannot be read."""
    checks = [Check(task=CLIENT_TASK, level=STALE, message=f"backend not readable: {reason}")]
    checks += [Check(task=f"peer {name}", level=STALE, message="no fresh data (backend not readable)")
               for name in known_peers]
    return checks


def doctor_report(checks: list[Check]) -> tuple[str, bool]:
    """The checks as ``ros2 doctor`` prints its report: one line per check, the worst level
    first, and a summary; True when no check is ERROR or STALE."""
    ordered = sorted(checks, key=lambda c: (-c.level, c.task))
    width = max((len(c.task) for c in ordered), default=0)
    lines = [f"{LEVEL_NAMES[c.level]:<5}  {c.task:<{width}}  {c.message}" for c in ordered]
    counts = {name: sum(1 for c in checks if LEVEL_NAMES[c.level] == name)
              for name in LEVEL_NAMES.values()}
    failed = counts["ERROR"] + counts["STALE"]
    lines.append(f"{len(checks)} check(s): " + ", ".join(f"{n} {name}" for name, n in
                                                          counts.items() if n)
                 + ("" if failed else "; all passed"))
    return "\n".join(lines), failed == 0
