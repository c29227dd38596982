"""The link_test node as a real process: its service runs a test against its own server over
loopback and publishes the result."""
import os
import random
import subprocess
import sys
import time

import pytest

from overlay_testing import free_port_pair, skip_or_fail

pytestmark = pytest.mark.ros


def test_link_test_service_measures_and_publishes(tmp_path):
    try:
        import rclpy
        from overlay_msgs.msg import LinkTestResult
        from overlay_msgs.srv import RunLinkTest
    except ImportError as err:
        skip_or_fail(f"overlay_msgs/rclpy not importable: {err}")
    domain = str(random.randint(100, 200))
    env = dict(os.environ, ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    dataset = tmp_path / "d.jsonl"
    node = subprocess.Popen([sys.executable, "-m", "overlay_monitor.nodes.link_test_node",
                             "--ros-args", "-p", f"port:={free_port_pair()}",
                             "-p", "tool:=builtin",
                             "-p", "duration_s:=0.5", "-p", f"dataset:={dataset}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    saved = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ.update(ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context)
    client_node = rclpy.create_node("link_test_client", context=context)
    results = []
    client_node.create_subscription(LinkTestResult, "/link_test/results", results.append, 10)
    client = client_node.create_client(RunLinkTest, "/link_test/run")
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(client_node)
    try:
        assert client.wait_for_service(timeout_sec=20), "no /link_test/run service"
        future = client.call_async(RunLinkTest.Request(target="127.0.0.1", location="loopback",
                                                       ping_count=3))
        deadline = time.monotonic() + 60
        while not future.done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        response = future.result()
        assert response is not None and response.success, response and response.message
        (result,) = response.results
        assert result.path == "overlay" and result.location == "loopback"
        assert result.tcp_throughput_bps > 1e6 and result.rtt_avg_ms > 0
        end = time.monotonic() + 5
        while not results and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        assert results and results[0].target == "127.0.0.1"
        assert dataset.exists() and len(dataset.read_text().splitlines()) == 1
        bad = client.call_async(RunLinkTest.Request(target="127.0.0.1", ping_count=5000))
        deadline = time.monotonic() + 30
        while not bad.done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert not bad.result().success and "count" in bad.result().message.lower()
    finally:
        client_node.destroy_node()
        context.try_shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        node.terminate()
        try:
            node.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            node.send_signal(10)  # SIGUSR1: the node prints its threads' stacks (run_node)
            time.sleep(1.0)
            node.kill()
            out, _ = node.communicate()
            pytest.fail(f"the node did not stop within 15 s of SIGTERM; its threads:\n{out[-6000:]}")


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["idle", "during a test", "after a test"])
def test_link_test_node_stops_within_two_seconds(tmp_path, signal_name, phase):
    """Stopping the node never waits for a link test: idle, in the middle of one (an 8 s
    test), or after one."""
    try:
        import rclpy  # noqa: F401
        from overlay_msgs.srv import RunLinkTest  # noqa: F401
    except ImportError as err:
        skip_or_fail(f"overlay_msgs/rclpy not importable: {err}")
    import signal as signals

    domain = str(random.randint(100, 200))
    env = dict(os.environ, ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    node = subprocess.Popen([sys.executable, "-m", "overlay_monitor.nodes.link_test_node",
                             "--ros-args", "-p", f"port:={free_port_pair()}", "-p",
                             "tool:=builtin", "-p", "duration_s:=8.0", "-p",
                             f"dataset:={tmp_path / 'd.jsonl'}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    caller = None
    try:
        assert "answering link tests" in node.stdout.readline()
        if phase != "idle":
            duration = "8.0" if phase == "during a test" else "0.5"
            caller = subprocess.Popen(
                ["ros2", "service", "call", "/link_test/run", "overlay_msgs/srv/RunLinkTest",
                 f"{{target: '127.0.0.1', ping_count: 2, duration_s: {duration}}}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if phase == "after a test":
                out, _ = caller.communicate(timeout=60)
                assert "success=True" in out, out
            else:
                line = ""
                while "started" not in line and node.poll() is None:
                    line = node.stdout.readline()  # bounded: the node logs the test's start
                assert "link test to 127.0.0.1 started" in line, line
                time.sleep(1.0)  # well inside the 8 s test
        start = time.monotonic()
        node.send_signal(getattr(signals, signal_name))
        node.wait(timeout=10)
        took = time.monotonic() - start
    finally:
        if node.poll() is None:
            node.kill()
        if caller is not None and caller.poll() is None:
            caller.kill()
    print(f"\n[link_test stop] {signal_name} {phase}: {took:.2f} s")
    assert took <= 2.0, f"{signal_name} {phase}: stopped after {took:.2f} s"

