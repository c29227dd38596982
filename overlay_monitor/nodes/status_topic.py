"""Read the monitor node's OverlayStatus topic back into models (for live views)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from ..models import LinkState, OverlaySnapshot, Peer

_STATES = {s.msg_constant: s for s in LinkState}


def _time(stamp: Any) -> datetime | None:
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return datetime.fromtimestamp(stamp.sec + stamp.nanosec / 1e9, tz=timezone.utc)


def peer_from_msg(msg: Any) -> Peer:
    """overlay_msgs/PeerStatus back to the model (for views fed by the topic)."""
    return Peer(hostname=msg.hostname, dns_name=msg.dns_name, overlay_ips=list(msg.overlay_ips),
                os=msg.os, tags=list(msg.tags), online=msg.online,
                state=_STATES.get(msg.state, LinkState.UNKNOWN), derp_region=msg.derp_region,
                endpoint=msg.current_endpoint, rtt_ms=msg.rtt_ms, rx_bytes=msg.rx_bytes,
                tx_bytes=msg.tx_bytes, rx_bytes_per_s=msg.rx_bytes_per_s,
                tx_bytes_per_s=msg.tx_bytes_per_s, last_handshake=_time(msg.last_handshake),
                last_seen=_time(msg.last_seen))


_UDP = {0: None, 1: True, 2: False}


def snapshot_from_msg(msg: Any) -> OverlaySnapshot:
    return OverlaySnapshot(backend=msg.backend, backend_state=msg.backend_state,
                           reachable=msg.backend_reachable, self_peer=peer_from_msg(msg.self),
                           peers=[peer_from_msg(p) for p in msg.peers], health=list(msg.health),
                           udp=_UDP.get(msg.udp))


#: what the views show of each robot: its newest snapshot, or None while none is fresh
FleetView = dict[str, "OverlaySnapshot | None"]


def snapshots_from_topics(topics: dict[str, str] | None, interval_s: float,
                          stale_after_s: float = 5.0, robot: str = "",
                          discover_s: float = 2.0) -> Iterator[FleetView]:
    """The newest OverlayStatus of each robot every ``interval_s``, by robot. ``topics``: robot
    -> topic; None: every ``*/overlay_monitor/status`` in the graph (or ``robot``'s only),
    looked up again on each update so robots that start later appear."""
    import rclpy
    from overlay_msgs.msg import OverlayStatus
    from rclpy.qos import DurabilityPolicy, QoSProfile

    from ..fleet import pick_topics, status_topics

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("overlay_status_watch", context=context)
    latest: dict[str, tuple[Any, float]] = {}
    subscribed: dict[str, Any] = {}
    qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)

    def subscribe(wanted: dict[str, str]) -> None:
        for name, topic in wanted.items():
            if name not in subscribed:
                subscribed[name] = node.create_subscription(
                    OverlayStatus, topic,
                    lambda msg, name=name: latest.__setitem__(name, (msg, time.monotonic())), qos)

    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=max(0.0, end - time.monotonic()))

    try:
        if topics is None:
            spin(discover_s)  # the graph fills in once discovery has run
        while True:
            wanted = topics if topics is not None else pick_topics(
                status_topics(node.get_topic_names_and_types()), robot)
            subscribe(wanted)
            spin(interval_s)
            now = time.monotonic()
            yield {name: snapshot_from_msg(latest[name][0])
                   if name in latest and now - latest[name][1] < stale_after_s else None
                   for name in sorted(subscribed)}
    finally:
        node.destroy_node()
        context.try_shutdown()


def snapshots_from_topic(topic: str, interval_s: float, stale_after_s: float = 5.0
                         ) -> Iterator[OverlaySnapshot | None]:
    """The newest OverlayStatus of one topic every ``interval_s``; None while nothing (fresh)
    has arrived."""
    for view in snapshots_from_topics({topic: topic}, interval_s, stale_after_s):
        yield view[topic]
