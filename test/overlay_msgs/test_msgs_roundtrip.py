"""overlay_msgs built by colcon, exchanged between two rclpy processes over Fast DDS."""
import json
import os
import random
import subprocess
import sys

import pytest

from overlay_testing import skip_or_fail

pytestmark = pytest.mark.ros

PUBLISHER = r"""
import math, time, rclpy
from rclpy.qos import QoSProfile, DurabilityPolicy
from overlay_msgs.msg import OverlayStatus, PeerStatus
rclpy.init()
node = rclpy.create_node("roundtrip_pub")
pub = node.create_publisher(OverlayStatus, "overlay_status", QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
msg = OverlayStatus(backend="tailscale", backend_state="Running", backend_reachable=True)
msg.self = PeerStatus(hostname="robot1", overlay_ips=["100.64.0.1", "fd7a:115c:a1e0::1"], state=PeerStatus.STATE_DIRECT, rtt_ms=math.nan)
msg.peers = [PeerStatus(hostname="laptop", tags=["tag:team-a"], online=True, state=PeerStatus.STATE_DERP, derp_region="campus", rtt_ms=12.5, rx_bytes=2**40, tx_bytes=7)]
msg.health = ["a warning"]
pub.publish(msg)
end = time.monotonic() + 20
while time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
"""
SUBSCRIBER = r"""
import json, math, sys, time, rclpy
from rclpy.qos import QoSProfile, DurabilityPolicy
from overlay_msgs.msg import OverlayStatus
rclpy.init()
node = rclpy.create_node("roundtrip_sub")
got = []
node.create_subscription(OverlayStatus, "overlay_status", got.append, QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
end = time.monotonic() + 15
while not got and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
if not got:
    sys.exit(3)
m = got[0]
p = m.peers[0]
print(json.dumps({"backend": m.backend, "state": m.backend_state, "self": m.self.hostname,
    "self_ips": list(m.self.overlay_ips), "self_rtt_nan": math.isnan(m.self.rtt_ms),
    "peer": [p.hostname, list(p.tags), p.online, p.state, p.derp_region, p.rtt_ms, p.rx_bytes],
    "health": list(m.health)}))
"""


def test_msgs_overlay_status_crosses_two_rclpy_processes():
    try:
        import overlay_msgs.msg  # noqa: F401
        import rclpy  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"overlay_msgs/rclpy not importable (source tools/env.sh): {err}")
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(100, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", RMW_IMPLEMENTATION="rmw_fastrtps_cpp")
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        result = subprocess.run([sys.executable, "-c", SUBSCRIBER], env=env, capture_output=True,
                                text=True, timeout=60)
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data == {
        "backend": "tailscale", "state": "Running", "self": "robot1",
        "self_ips": ["100.64.0.1", "fd7a:115c:a1e0::1"], "self_rtt_nan": True,
        "peer": ["laptop", ["tag:team-a"], True, 2, "campus", 12.5, 2**40],
        "health": ["a warning"]}
