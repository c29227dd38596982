"""topology_markers as a real process: an OverlayStatus in, a MarkerArray out."""
import os
import random
import subprocess
import sys
import time

import pytest

from overlay_testing import skip_or_fail

pytestmark = pytest.mark.ros


def test_topology_markers_node_turns_status_into_markers():
    try:
        import rclpy
        from overlay_msgs.msg import OverlayStatus, PeerStatus
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from visualization_msgs.msg import Marker, MarkerArray
    except ImportError as err:
        skip_or_fail(f"rclpy/overlay_msgs not importable: {err}")
    domain = str(random.randint(100, 200))
    saved = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ.update(ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    node = subprocess.Popen([sys.executable, "-m", "overlay_monitor.nodes.topology_markers"],
                            env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    context = rclpy.Context()
    rclpy.init(context=context)
    test_node = rclpy.create_node("markers_test", context=context)
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = test_node.create_publisher(OverlayStatus, "/overlay_monitor/status", latched)
    got = []
    test_node.create_subscription(MarkerArray, "/topology_markers/markers", got.append, latched)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    try:
        status = OverlayStatus(backend="tailscale", backend_state="Running",
                               backend_reachable=True)
        status.self.hostname = "robot1"
        status.peers = [PeerStatus(hostname="robot2", overlay_ips=["100.64.0.2"],
                                   state=PeerStatus.STATE_DERP, derp_region="campus",
                                   rtt_ms=12.0)]
        publisher.publish(status)
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert got, "no MarkerArray"
        markers = got[-1].markers
        assert markers[0].action == Marker.DELETEALL
        texts = [m.text for m in markers if m.type == Marker.TEXT_VIEW_FACING]
        assert "derp (campus) 12.0 ms" in texts
        lines = [m for m in markers if m.type == Marker.LINE_LIST]
        assert len(lines) == 1 and lines[0].header.frame_id == "overlay"
        assert (lines[0].color.r, lines[0].color.g) == pytest.approx((1.0, 0.75))
    finally:
        test_node.destroy_node()
        context.try_shutdown()
        node.terminate()
        node.wait(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
