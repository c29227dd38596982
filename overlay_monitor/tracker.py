"""Derived link facts from successive snapshots: byte rates, RTTs, and transitions. Pure.

The tracker keeps the previous sample per peer. Byte rates are the counter difference over the
time between samples; a counter that went down (the backend restarted, the peer was re-added)
starts a new baseline and reports NaN for that sample instead of a negative or huge rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .models import LinkState, OverlaySnapshot, Peer


@dataclass(frozen=True)
class LinkEvent:
    kind: str          # "state", "appeared", "gone", "backend", "endpoint" (a roam)
    peer: str
    peer_key: str
    old_state: str
    new_state: str
    message: str


@dataclass
class _Sample:
    rx: int
    tx: int
    at_s: float
    state: LinkState
    hostname: str
    endpoint: str = ""


@dataclass
class _Rtt:
    value_ms: float
    at_s: float


@dataclass
class LinkTracker:
    """Feed it every snapshot with a monotonic time; it completes the peers and says what changed.

    ``rtt_max_age_s``: an RTT older than this is reported as NaN (unknown), never as stale data.
    """

    rtt_max_age_s: float = 30.0
    #: a fresh failed probe means unreachable (plain WireGuard: the probe is the only live signal)
    failed_probe_means_offline: bool = False
    _samples: dict[str, _Sample] = field(default_factory=dict)
    _rtts: dict[str, _Rtt] = field(default_factory=dict)
    _backend_state: str | None = None
    _self_endpoints: tuple[str, ...] = ()
    _initialised: bool = False

    def record_rtt(self, peer_key: str, rtt_ms: float, at_s: float) -> None:
        """Store an RTT probe result (NaN for a failed probe)."""
        self._rtts[peer_key] = _Rtt(rtt_ms, at_s)

    def update(self, snapshot: OverlaySnapshot, now_s: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        if snapshot.backend_state != self._backend_state:
            if self._backend_state is not None or snapshot.backend_state != "Running":
                events.append(LinkEvent(
                    "backend", "", "", self._backend_state or "", snapshot.backend_state,
                    f"{snapshot.backend} backend: {self._backend_state or 'unknown'} -> "
                    f"{snapshot.backend_state}"))
            self._backend_state = snapshot.backend_state
        events += self._self_roam(snapshot)
        seen: set[str] = set()
        for peer in snapshot.peers:
            key = peer.key
            seen.add(key)
            previous = self._samples.get(key)
            self._fill_rates(peer, previous, now_s)
            self._fill_rtt(peer, now_s)
            if previous is None:
                if self._initialised:  # the first snapshot only sets the baseline
                    events.append(LinkEvent("appeared", peer.hostname, key, "", peer.state.value,
                                            f"peer {peer.hostname} appeared ({peer.state.value})"))
            elif previous.state is not peer.state:
                events.append(LinkEvent(
                    "state", peer.hostname, key, previous.state.value, peer.state.value,
                    f"peer {peer.hostname}: {previous.state.value} -> {peer.state.value}"
                    + (f" (region {peer.derp_region})" if peer.state is LinkState.DERP
                       and peer.derp_region else "")))
            elif (peer.state is LinkState.DIRECT and previous.endpoint and peer.endpoint
                  and previous.endpoint != peer.endpoint):
                events.append(LinkEvent(
                    "endpoint", peer.hostname, key, previous.endpoint, peer.endpoint,
                    f"peer {peer.hostname}: endpoint changed {previous.endpoint} -> "
                    f"{peer.endpoint} (it roamed)"))
            self._samples[key] = _Sample(peer.rx_bytes, peer.tx_bytes, now_s, peer.state,
                                         peer.hostname, peer.endpoint if peer.state is
                                         LinkState.DIRECT else (previous.endpoint if previous
                                                                else ""))
        for key in [k for k in self._samples if k not in seen]:
            gone = self._samples.pop(key)
            self._rtts.pop(key, None)
            events.append(LinkEvent("gone", gone.hostname, key, gone.state.value, "",
                                    f"peer {gone.hostname} left the overlay"))
        self._initialised = True
        return events

    def _self_roam(self, snapshot: OverlaySnapshot) -> list[LinkEvent]:
        """This machine's own endpoints changed (a Wi-Fi hand-over, another subnet)."""
        before, now = self._self_endpoints, snapshot.self_endpoints
        if now:
            self._self_endpoints = now
        # tailscaled lists the current local address first and keeps the previous one (its
        # last STUN answer) for a while: the first endpoint changing is the roam
        if not before or not now or before[0] == now[0]:
            return []
        name = snapshot.self_peer.hostname if snapshot.self_peer else "self"
        return [LinkEvent("endpoint", name, "self", ", ".join(before), ", ".join(now),
                          f"this machine's endpoint changed {', '.join(before)} -> "
                          f"{', '.join(now)} (it roamed)")]

    @staticmethod
    def _fill_rates(peer: Peer, previous: _Sample | None, now_s: float) -> None:
        if previous is None or now_s <= previous.at_s:
            return
        if peer.rx_bytes < previous.rx or peer.tx_bytes < previous.tx:
            return  # counter reset: new baseline, rate unknown for this sample
        elapsed = now_s - previous.at_s
        peer.rx_bytes_per_s = (peer.rx_bytes - previous.rx) / elapsed
        peer.tx_bytes_per_s = (peer.tx_bytes - previous.tx) / elapsed

    def _fill_rtt(self, peer: Peer, now_s: float) -> None:
        rtt = self._rtts.get(peer.key)
        if peer.state is LinkState.OFFLINE or rtt is None or now_s - rtt.at_s > self.rtt_max_age_s:
            peer.rtt_ms = math.nan
            return
        peer.rtt_ms = rtt.value_ms
        if math.isnan(rtt.value_ms) and self.failed_probe_means_offline:
            peer.state, peer.online, peer.endpoint = LinkState.OFFLINE, False, ""


def handshake_age_s(peer: Peer, now: datetime) -> float:
    """Seconds since the last WireGuard handshake; infinity when there was none."""
    if peer.last_handshake is None:
        return math.inf
    return max(0.0, (now - peer.last_handshake).total_seconds())
