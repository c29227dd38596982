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


def snapshot_from_msg(msg: Any) -> OverlaySnapshot:
    return OverlaySnapshot(backend=msg.backend, backend_state=msg.backend_state,
                           reachable=msg.backend_reachable, self_peer=peer_from_msg(msg.self),
                           peers=[peer_from_msg(p) for p in msg.peers], health=list(msg.health))


def snapshots_from_topic(topic: str, interval_s: float, stale_after_s: float = 5.0
                         ) -> Iterator[OverlaySnapshot | None]:
    """The newest OverlayStatus every ``interval_s``; None while nothing (fresh) has arrived."""
    import rclpy
    from overlay_msgs.msg import OverlayStatus
    from rclpy.qos import DurabilityPolicy, QoSProfile

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("overlay_status_watch", context=context)
    latest: dict[str, Any] = {}

    def store(msg: Any) -> None:
        latest["msg"], latest["at"] = msg, time.monotonic()

    node.create_subscription(OverlayStatus, topic, store,
                             QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        while True:
            end = time.monotonic() + interval_s
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=max(0.0, end - time.monotonic()))
            fresh = "msg" in latest and time.monotonic() - latest["at"] < stale_after_s
            yield snapshot_from_msg(latest["msg"]) if fresh else None
    finally:
        node.destroy_node()
        context.try_shutdown()


