"""Three robots of one team on one domain, each running `ros2 launch overlay_bringup
robot.launch.py` on the real-component lab: every node lives under the robot's namespace, so
`ros2 node list` shows no duplicate names, each robot's status topic has one publisher, a link
test is called on /r2/link_test/run from r1, and `ros2 overlay status` works in a robot."""
import random
import re
import shlex
import shutil
import subprocess
import time

import pytest

from overlay_lab.proc import interrupt_groups
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.services import server_out
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, real_components_preconditions, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.launch_test, pytest.mark.slow]
PREFIX = lab_prefix("ons")
ROBOTS = ("r1", "r2", "r3")
DOMAIN = random.randint(101, 200)


def _in_robot(state, robot, command, timeout=90):
    """A shell command in ``robot`` with the discovery environment its launch wrote."""
    script = ("set -a; . \"$HOME/.ros/overlay_bringup/discovery/env\"; set +a; "
              f"export ROS_DOMAIN_ID={DOMAIN}; {command}")
    return subprocess.run(robot_exec_argv(state, robot, ["bash", "-c", script]),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fleet():
    real_components_preconditions()
    if shutil.which("ros2") is None:
        skip_or_fail("ros2 (launch, ros2cli) is not installed: ../shared/ros2-python-tools")
    state = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="open"), join=False).state
    bundle = server_out(PREFIX) / "bundles" / "lab"
    launches = {}
    try:
        for robot in ROBOTS:
            argv = ["setsid", "env", "--default-signal=INT", "ros2", "launch", "overlay_bringup",
                    "robot.launch.py", f"robot_name:={robot}",
                    f"login_server:={state.server_url}", f"auth_key_file:={bundle / 'auth.key'}",
                    f"ca_file:={bundle / 'ca.crt'}", f"domain_id:={DOMAIN}",
                    "start_link_test:=true"]
            launches[robot] = subprocess.Popen(robot_exec_argv(state, robot, argv),
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               text=True)
        deadline = time.monotonic() + 120
        listed = ""
        while time.monotonic() < deadline:
            listed = _in_robot(state, "r1", "ros2 node list --no-daemon --spin-time 3").stdout
            if all(f"/{r}/overlay_monitor" in listed for r in ROBOTS):
                break
            time.sleep(2)
        yield state, launches
    finally:
        interrupt_groups(launches.values(), grace_s=30)
        lab_down(PREFIX)


def test_node_list_shows_every_robots_nodes_once(fleet):
    state, _ = fleet
    result = _in_robot(state, "r1", "ros2 node list --no-daemon --spin-time 5")
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    print(f"\nros2 node list on r1: {names}")
    assert "share an exact name" not in result.stderr, result.stderr
    assert len(names) == len(set(names)), names
    for robot in ROBOTS:
        assert {f"/{robot}/overlay_monitor", f"/{robot}/link_test"} <= set(names), names


@pytest.mark.parametrize("robot", ROBOTS)
def test_each_robots_status_topic_has_one_publisher(fleet, robot):
    state, _ = fleet
    result = _in_robot(state, "r1", f"ros2 topic info /{robot}/overlay_monitor/status "
                                    "--no-daemon --spin-time 5")
    assert re.search(r"Publisher count: 1\b", result.stdout), result.stdout + result.stderr


def test_a_link_test_is_called_on_r2_from_r1(fleet):
    state, _ = fleet
    target = state.robot("r3").overlay_ip or _r3_ip(state)
    request = shlex.quote(f"{{target: '{target}', location: 'r2 to r3', ping_count: 5, "
                          "duration_s: 1.0}")
    result = _in_robot(state, "r1", "ros2 service call /r2/link_test/run "
                                    f"overlay_msgs/srv/RunLinkTest {request}", timeout=120)
    print(f"\n/r2/link_test/run from r1: {result.stdout.strip().splitlines()[-1:]}")
    assert "success=True" in result.stdout, result.stdout + result.stderr


def test_ros2_overlay_status_works_in_a_robot(fleet):
    state, _ = fleet
    result = subprocess.run(robot_exec_argv(state, "r1", ["ros2", "overlay", "status"]),
                            capture_output=True, text=True, timeout=60)
    lines = result.stdout.strip().splitlines()
    print("\nros2 overlay status on r1:\n" + result.stdout)
    assert lines and re.match(r"\d+ check\(s\): ", lines[-1]), result.stdout + result.stderr
    assert any("peer r2" in line for line in lines) and any("peer r3" in line for line in lines)
    assert result.returncode in (0, 1)


def _r3_ip(state):
    from overlay_lab.tailnet import tailscale_ips

    return tailscale_ips(PREFIX, "r3")[0]
