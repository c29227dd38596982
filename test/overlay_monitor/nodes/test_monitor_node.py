"""The monitor node as a real process, read by an rclpy subscriber in this test process."""
import os
import random
import subprocess
import sys
import time

import pytest

from overlay_testing import skip_or_fail
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, ping_result, status

pytestmark = pytest.mark.ros


@pytest.fixture
def ros_env():
    try:
        import overlay_msgs.msg  # noqa: F401
        import rclpy  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"overlay_msgs/rclpy not importable (source tools/env.sh): {err}")
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(100, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", RMW_IMPLEMENTATION="rmw_fastrtps_cpp")
    old = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ.update({k: env[k] for k in old})
    yield env
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Listener:
    def __init__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from overlay_msgs.msg import LinkEvent, OverlayStatus
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("monitor_test_listener", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.status, self.diagnostics, self.events = [], [], []
        self.node.create_subscription(OverlayStatus, "/overlay_monitor/status",
                                      self.status.append, latched)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.node.create_subscription(LinkEvent, "/overlay_monitor/events", self.events.append, 10)

    def spin_until(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
            if predicate():
                return True
        return False

    def levels(self):
        if not self.diagnostics:
            return {}
        return {s.name: s.level[0] for s in self.diagnostics[-1].status}

    def close(self):
        self.node.destroy_node()
        self.context.try_shutdown()


def test_monitor_node_publishes_status_diagnostics_events_and_goes_stale(tmp_path, ros_env):
    fake = FakeTailscaled(tmp_path / "tailscaled.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2"),
                                  peer_status("robot3", "100.64.0.3", state="offline")]),
             pings={"100.64.0.2": ping_result("100.64.0.2", latency_s=0.007)})
    fake.start()
    node = subprocess.Popen(
        [sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args",
         "-p", f"socket_path:={fake.socket_path}", "-p", "poll_period_s:=0.2",
         "-p", "ping_period_s:=0.5"], env=ros_env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    listener = Listener()
    try:
        assert listener.spin_until(lambda: listener.status and listener.levels()), \
            "no status/diagnostics from the node"
        msg = listener.status[-1]
        assert msg.backend == "tailscale" and msg.backend_state == "Running"
        assert msg.backend_reachable and msg.self.hostname == "robot1"
        by = {p.hostname: p for p in msg.peers}
        assert by["robot2"].state == by["robot2"].STATE_DIRECT
        assert by["robot3"].state == by["robot3"].STATE_OFFLINE
        assert listener.levels() == {"overlay_monitor: client": 0,
                                     "overlay_monitor: peer robot2": 0,
                                     "overlay_monitor: peer robot3": 2}
        assert listener.spin_until(lambda: any(
            abs(p.rtt_ms - 7.0) < 0.01 for p in listener.status[-1].peers))
        # a path change becomes an event
        fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2", state="derp"),
                                      peer_status("robot3", "100.64.0.3", state="offline")]))
        assert listener.spin_until(lambda: any(e.new_state == "derp" for e in listener.events))
        assert listener.spin_until(
            lambda: listener.levels().get("overlay_monitor: peer robot2") == 1)
        # tailscaled goes away: STALE, and the node keeps running
        fake.stop()
        assert listener.spin_until(lambda: set(listener.levels().values()) == {3})
        assert not listener.status[-1].backend_reachable
        assert node.poll() is None
        fake.start()
        assert listener.spin_until(
            lambda: listener.levels().get("overlay_monitor: client") == 0)
    finally:
        listener.close()
        node.terminate()
        output = node.communicate(timeout=10)[0]
        fake.stop()
    assert "peer robot2: direct -> derp (region campus)" in output
    assert "backend not readable" in output


def test_monitor_node_rejects_bad_parameters_clearly(ros_env):
    result = subprocess.run(
        [sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args",
         "-p", "backend:=zerotier"], env=ros_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "backend 'zerotier' is not one of tailscale, wireguard" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args",
         "-p", "poll_period_s:=0.01"], env=ros_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "poll_period_s" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args",
         "-p", "ping_period_s:=0"], env=ros_env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "expecting type 'DOUBLE'" in result.stderr


def test_monitor_node_watches_the_zenoh_bridge(tmp_path, ros_env):
    """A real zenohd with the ros2dds plugin on loopback: the bridge's checks join the
    diagnostics (up, a listed topic with no route), and a bridge that dies is an ERROR."""
    import json

    from overlay_bringup.discovery.files import environment, read_env, write_config
    from overlay_bringup.discovery.model import BridgePolicy, DiscoveryRequest
    from overlay_bringup.discovery.modes import generate
    from overlay_bringup.discovery.zenoh_bridge import BRIDGE_CONFIG_FILE, BRIDGE_ENV
    from overlay_testing import free_port_pair, zenoh_preconditions

    zenohd, plugins = zenoh_preconditions()
    config = generate(DiscoveryRequest(
        "zenoh-bridge", "127.0.0.1", ("127.0.0.1",), domain_id=int(ros_env["ROS_DOMAIN_ID"]),
        bridge=BridgePolicy(rule="allow", topics=("/chatter", "/missing")),
        bridge_plugin_dir=str(plugins)))
    port = free_port_pair()
    bridge_json = json.loads(config.files[BRIDGE_CONFIG_FILE])
    bridge_json["listen"]["endpoints"] = [f"tcp/127.0.0.1:{port}"]
    config.files[BRIDGE_CONFIG_FILE] = json.dumps(bridge_json)
    write_config(config, tmp_path / "discovery")
    bridge_env = read_env((tmp_path / "discovery" / f"env.{BRIDGE_ENV}").read_text())
    assert environment(config, tmp_path / "discovery")["ROS_AUTOMATIC_DISCOVERY_RANGE"] == \
        "LOCALHOST"
    bridge = subprocess.Popen([str(zenohd), "-c", str(tmp_path / "discovery" /
                                                       BRIDGE_CONFIG_FILE)],
                              env=dict(ros_env, **bridge_env), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    fake = FakeTailscaled(tmp_path / "tailscaled.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2")]))
    fake.start()
    node = subprocess.Popen(
        [sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args",
         "-p", f"socket_path:={fake.socket_path}", "-p", "poll_period_s:=0.2",
         "-p", "ping_period_s:=0.0", "-p", "bridge_period_s:=0.5",
         "-p", f"bridge_config:={tmp_path / 'discovery' / BRIDGE_CONFIG_FILE}"],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listener = Listener()
    from std_msgs.msg import String

    talker = listener.node.create_publisher(String, "/chatter", 10)
    listener.node.create_timer(0.2, lambda: talker.publish(String(data="hi")))
    try:
        assert listener.spin_until(lambda: listener.levels().get(
            "overlay_monitor: bridge topic /chatter") is not None, timeout=30), listener.levels()
        levels = listener.levels()
        assert levels["overlay_monitor: bridge"] == 0
        assert levels["overlay_monitor: bridge topic /missing"] == 1  # listed, no route
        # routed here, but no other bridge is connected
        assert levels["overlay_monitor: bridge topic /chatter"] == 1
        bridge.terminate()
        bridge.wait(timeout=10)
        assert listener.spin_until(
            lambda: listener.levels().get("overlay_monitor: bridge") == 2, timeout=20)
        assert node.poll() is None
    finally:
        listener.close()
        node.terminate()
        output = node.communicate(timeout=10)[0]
        bridge.kill()
        fake.stop()
    assert "zenoh bridge: 0 bridge(s) connected" in output
    assert f"bridge not reachable at tcp/127.0.0.1:{port}" in output
