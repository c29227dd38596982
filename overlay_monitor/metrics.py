"""Overlay link health as Prometheus metrics (prometheus-client's exposition). No I/O here:
``OverlayCollector`` turns the newest snapshot and the event counts into metric families; the
node serves them over HTTP and ``overlay-status --prometheus`` prints them once.

Names follow Prometheus conventions (base units, ``_total`` counters, ``_timestamp_seconds``).
Labels stay bounded: peer name, overlay IP, state, DERP region; never an endpoint or a port.
"""
from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .bridge import ROUTE_KINDS, BridgeStatus
from .models import LinkState, OverlaySnapshot
from .tracker import LinkEvent

#: the states ``overlay_peer_state`` is one-hot over (one series each, 1 for the current one)
EXPORTED_STATES = (LinkState.DIRECT, LinkState.DERP, LinkState.PEER_RELAY, LinkState.IDLE,
                   LinkState.OFFLINE)


class OverlayCollector(Collector):
    """Collects from the newest snapshot given to ``update`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: OverlaySnapshot | None = None
        self._events: Counter[tuple[str, str, str]] = Counter()
        self._roams: Counter[str] = Counter()
        self._bridge: BridgeStatus | None = None

    def update_bridge(self, status: BridgeStatus) -> None:
        """The newest reading of this robot's zenoh bridge (discovery mode zenoh-bridge)."""
        with self._lock:
            self._bridge = status

    def update(self, snapshot: OverlaySnapshot, events: Iterable[LinkEvent] = ()) -> None:
        with self._lock:
            if snapshot.reachable or self._snapshot is None:
                self._snapshot = snapshot
            else:  # keep the last peers, but say the backend is down
                self._snapshot = OverlaySnapshot(
                    snapshot.backend, snapshot.backend_state, False,
                    self._snapshot.self_peer, self._snapshot.peers, error=snapshot.error)
            for event in events:
                if event.kind == "state" and event.peer:
                    self._events[(event.peer, event.old_state, event.new_state)] += 1
                elif event.kind == "endpoint":
                    self._roams[event.peer] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot, events, roams = self._snapshot, dict(self._events), dict(self._roams)
            bridge = self._bridge
        if bridge is not None:
            yield from bridge_families(bridge)
        up = GaugeMetricFamily("overlay_backend_up",
                               "1 when the overlay backend (tailscaled, wg) could be read",
                               labels=["backend"])
        up.add_metric([snapshot.backend if snapshot else "unknown"],
                      1.0 if snapshot is not None and snapshot.reachable else 0.0)
        yield up
        if snapshot is not None and snapshot.udp is not None:
            udp = GaugeMetricFamily("overlay_udp_available",
                                    "1 when UDP works on this network (tailscaled's netcheck "
                                    "got STUN replies), 0 when blocked: every link goes "
                                    "through DERP", labels=["home_derp"])
            udp.add_metric([snapshot.home_derp], 1.0 if snapshot.udp else 0.0)
            yield udp
        state = GaugeMetricFamily("overlay_peer_state",
                                  "1 for the peer's current link state, 0 for the others",
                                  labels=["peer", "ip", "state"])
        rtt = GaugeMetricFamily("overlay_peer_rtt_seconds",
                                "last measured round-trip time (NaN when unknown)",
                                labels=["peer", "ip"])
        rx = CounterMetricFamily("overlay_peer_rx_bytes", "bytes received from the peer",
                                 labels=["peer", "ip"])
        tx = CounterMetricFamily("overlay_peer_tx_bytes", "bytes sent to the peer",
                                 labels=["peer", "ip"])
        handshake = GaugeMetricFamily("overlay_peer_last_handshake_timestamp_seconds",
                                      "Unix time of the last WireGuard handshake (0 = never)",
                                      labels=["peer", "ip"])
        region = GaugeMetricFamily("overlay_peer_derp_region",
                                   "1 for the DERP region the peer is relayed through or homed in",
                                   labels=["peer", "region"])
        for peer in snapshot.peers if snapshot else []:
            ip = peer.overlay_ips[0] if peer.overlay_ips else ""
            for candidate in EXPORTED_STATES:
                state.add_metric([peer.hostname, ip, candidate.value],
                                 1.0 if peer.state is candidate else 0.0)
            rtt.add_metric([peer.hostname, ip],
                           math.nan if math.isnan(peer.rtt_ms) else peer.rtt_ms / 1000.0)
            rx.add_metric([peer.hostname, ip], float(peer.rx_bytes))
            tx.add_metric([peer.hostname, ip], float(peer.tx_bytes))
            handshake.add_metric([peer.hostname, ip], peer.last_handshake.timestamp()
                                 if peer.last_handshake else 0.0)
            if peer.derp_region:
                region.add_metric([peer.hostname, peer.derp_region], 1.0)
        changes = CounterMetricFamily("overlay_link_events",
                                      "link state changes seen by this monitor",
                                      labels=["peer", "from", "to"])
        for (peer_name, old, new), count in sorted(events.items()):
            changes.add_metric([peer_name, old, new], float(count))
        roam = CounterMetricFamily("overlay_roams",
                                   "endpoint changes (roams): of a peer on a direct path, or of "
                                   "this machine (peer = its own name)", labels=["peer"])
        for peer_name, count in sorted(roams.items()):
            roam.add_metric([peer_name], float(count))
        yield from (state, rtt, rx, tx, handshake, region, changes, roam)


def bridge_families(bridge: BridgeStatus) -> Iterator[Metric]:
    """The zenoh bridge's health: up, connected bridges, routes per kind and, per route, how
    many other bridges have the matching one (its names are the allow list's: bounded)."""
    up = GaugeMetricFamily("overlay_bridge_up", "1 when this robot's zenoh bridge answered")
    up.add_metric([], 1.0 if bridge.reachable else 0.0)
    yield up
    if not bridge.reachable:
        return
    peers = GaugeMetricFamily("overlay_bridge_connected_bridges",
                              "other bridges (or the team router) this bridge is connected to")
    peers.add_metric([], float(len(bridge.peers)))
    routes = GaugeMetricFamily("overlay_bridge_routes", "ROS interfaces the bridge routes",
                               labels=["kind"])
    counts = Counter(ROUTE_KINDS[r.kind] for r in bridge.routes)
    for kind in ROUTE_KINDS.values():
        routes.add_metric([kind], float(counts.get(kind, 0)))
    remote = GaugeMetricFamily("overlay_bridge_route_remote_routes",
                               "other bridges with the matching route (0: nothing crosses)",
                               labels=["kind", "name"])
    for route in bridge.routes:
        remote.add_metric([ROUTE_KINDS[route.kind], route.name], float(len(route.remote_routes)))
    yield from (peers, routes, remote)


def listen_address(setting: str, snapshot: OverlaySnapshot) -> str:
    """Where the metrics should listen: ``setting`` itself, or for ``overlay`` this member's own
    overlay IPv4 ('' while it is not known yet: not joined)."""
    if setting != "overlay":
        return setting
    me = snapshot.self_peer
    return next((ip for ip in (me.overlay_ips if me else []) if ":" not in ip), "")


def make_registry(collector: OverlayCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(snapshot: OverlaySnapshot, events: Iterable[LinkEvent] = ()) -> str:
    """The text exposition of one snapshot (``overlay-status --prometheus``)."""
    collector = OverlayCollector()
    collector.update(snapshot, events)
    return generate_latest(make_registry(collector)).decode()


class _BridgeOnly(Collector):
    def __init__(self, status: BridgeStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        yield from bridge_families(self.status)


def bridge_exposition(status: BridgeStatus) -> str:
    """The text exposition of one bridge reading (``overlay-status --bridge --prometheus``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_BridgeOnly(status))
    return generate_latest(registry).decode()
