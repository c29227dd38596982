"""robot.launch.py under launch_pytest, with the stand-ins: the stand-in tailscale CLI on PATH
joins the stand-in tailscaled (real unix socket) to the stand-in Headscale (real HTTPS). Checks
that the monitor's topic appears and that the monitor runs with the generated discovery
environment in effect."""
import json
import os
import random
import time
from pathlib import Path

import psutil
import pytest

from overlay_testing import REPO, TEST_API_KEY, install_fake_tailscale_cli, skip_or_fail
from standins.fake_headscale import FakeHeadscale
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import status

try:
    import launch_pytest
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch_pytest.actions import ReadyToTest

    from launch import LaunchDescription
except ImportError as err:  # without launch tools (a fresh machine without ../shared)
    skip_or_fail(f"launch_pytest not installed: {err}")

pytestmark = [pytest.mark.ros, pytest.mark.launch_test]
# another test run on the same machine must not see this run's nodes
DOMAIN = str(random.randint(100, 200))


def _launch_file() -> str:
    try:
        from ament_index_python.packages import get_package_share_directory
        return str(Path(get_package_share_directory("overlay_bringup")) / "launch" /
                   "robot.launch.py")
    except Exception:  # not installed: the source tree's copy
        return str(REPO / "launch" / "robot.launch.py")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    from overlay_bringup.server.tls import ensure_ca, ensure_server_cert

    tmp = tmp_path_factory.mktemp("launch")
    ca = ensure_ca(tmp / "tls", "localhost")
    cert = ensure_server_cert(tmp / "tls", ca, "localhost", ("127.0.0.1",))
    headscale = FakeHeadscale(str(cert.path), str(cert.key_path), TEST_API_KEY).start()
    daemon = FakeTailscaled(tmp / "ts.sock", tmp / "script.json")
    daemon.set(status=status("NeedsLogin"), prefs={})
    daemon.start()
    install_fake_tailscale_cli(tmp / "bin")
    key = tmp / "auth.key"
    key.write_text("hskey-auth-TESTONLYlaunch\n")
    key.chmod(0o600)
    saved = dict(os.environ)
    os.environ.update(PATH=f"{tmp / 'bin'}:{os.environ['PATH']}",
                      FAKE_TAILSCALE_ARGV_LOG=str(tmp / "argv.log"),
                      FAKE_TAILSCALED_SCRIPT=str(tmp / "script.json"),
                      HOME=str(tmp))  # the join result goes to ~/.ros/overlay_bringup
    yield {"tmp": tmp, "url": headscale.url, "ca": str(ca.path), "key": str(key),
           "socket": daemon.socket_path}
    os.environ.clear()
    os.environ.update(saved)
    daemon.stop()
    headscale.stop()


@launch_pytest.fixture
def robot_launch(stand_ins):
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(_launch_file()),
        launch_arguments={"robot_name": "robot1", "login_server": stand_ins["url"],
                          "auth_key_file": stand_ins["key"], "tags": "tag:team-a",
                          "ca_file": stand_ins["ca"], "socket_path": stand_ins["socket"],
                          "discovery_mode": "static-peers", "domain_id": DOMAIN,
                          "discovery_dir": str(stand_ins["tmp"] / "discovery"),
                          "guard_route": "false", "relay_server_port": "40641"}.items())
    return LaunchDescription([include, ReadyToTest()])


def _monitor_process():
    """This run's monitor node: a descendant of this test process (another test run on the
    machine may have one too)."""
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "overlay_monitor" in cmd and "--ros-args" in cmd and "__node:=overlay_monitor" in cmd:
            # in the robot's namespace: its overlay name (the stand-in tailscaled says robot1)
            assert "__ns:=/robot1" in cmd, cmd
            return proc
    return None


@pytest.mark.launch(fixture=robot_launch)
def test_robot_launch_joins_configures_discovery_and_starts_the_monitor(stand_ins):
    deadline = time.monotonic() + 30
    monitor = None
    while monitor is None and time.monotonic() < deadline:
        monitor = _monitor_process()
        time.sleep(0.2)
    assert monitor is not None, "the monitor node did not start"
    env = monitor.environ()
    assert env["ROS_STATIC_PEERS"] == "100.64.0.2;100.64.0.3"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["ROS_DOMAIN_ID"] == DOMAIN
    assert (stand_ins["tmp"] / "discovery" / "env").exists()
    argvs = [json.loads(line) for line in (stand_ins["tmp"] / "argv.log").read_text().splitlines()]
    assert [a[-2:] for a in argvs if "set" in a] == [["set", "--relay-server-port=40641"]]

    import rclpy
    from overlay_msgs.msg import OverlayStatus
    from rclpy.qos import DurabilityPolicy, QoSProfile

    os.environ.update(ROS_DOMAIN_ID=DOMAIN, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args"])
    node = rclpy.create_node("launch_test_listener", context=context)
    got = []
    node.create_subscription(OverlayStatus, "/robot1/overlay_monitor/status", got.append,
                             QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        end = time.monotonic() + 20
        while not got and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
    finally:
        node.destroy_node()
        context.try_shutdown()
    assert got, "no OverlayStatus on /robot1/overlay_monitor/status"
    assert got[-1].backend_state == "Running" and got[-1].self.hostname == "robot1"
    assert sorted(p.hostname for p in got[-1].peers) == ["robot2", "robot3"]
