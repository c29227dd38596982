"""The zenoh-bridge boundary on the real components (headscale, a tailscaled per robot, zenohd
with the ros2dds plugin per robot): what the policy allows crosses, what it does not never
arrives, and neither the nodes' DDS nor the bridge is seen on the underlay; the nodes' DDS is not
seen on tailscale0 either (only the bridge's TCP)."""
import re
import subprocess
import time

import pytest

from overlay_bringup.discovery.model import BridgePolicy
from overlay_lab import proc
from overlay_lab.ros_demo import chatter_argv, last_json_line, zenoh_bridges
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, real_components_preconditions, zenoh_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("ozb")
DOMAIN = 23
#: DDS ports of every domain (7400 + 250 * domain + …), and the bridge's
DDS = "udp portrange 7400-65000 and not port 41641 and not port 3478"


@pytest.fixture(scope="module")
def bridged():
    real_components_preconditions()
    zenoh_preconditions()
    state = lab_up(plan_lab(2, PREFIX, overlay="tailscale", campus="open")).state
    policy = BridgePolicy(rule="allow", topics=("/allowed", "/unused"))
    envs, bridges = zenoh_bridges(state, ("r1", "r2"), DOMAIN, policy)
    yield state, envs
    proc.terminate(b.pid for b in bridges)
    lab_down(PREFIX)


def _capture(state, robot, interface, bpf):
    return subprocess.Popen(robot_exec_argv(state, robot, [
        "tcpdump", "-n", "-l", "-i", interface, bpf]), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)


def _packets(capture):
    capture.terminate()
    out, _ = capture.communicate(timeout=10)
    return [line for line in out.splitlines() if line.strip()]


def _across(state, envs, topic, seconds=8.0):
    listen = subprocess.Popen(chatter_argv(state, "r2", envs["r2"], "listen", "--topic", topic,
                                           "--duration", str(seconds)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    talk = subprocess.run(chatter_argv(state, "r1", envs["r1"], "talk", "--topic", topic,
                                       "--duration", str(seconds - 1)),
                          capture_output=True, text=True, timeout=seconds + 30)
    out, _ = listen.communicate(timeout=seconds + 30)
    return last_json_line(talk.stdout), last_json_line(out)


def test_an_allowed_topic_crosses_and_nothing_of_it_is_on_the_underlay(bridged):
    state, envs = bridged
    underlay = _capture(state, "r1", "eth0", f"{DDS} or tcp port 7447")
    overlay_dds = _capture(state, "r1", "tailscale0", DDS)
    sent, heard = _across(state, envs, "/allowed")
    assert heard["received"] > 0, (sent, heard)
    assert _packets(underlay) == []  # no DDS, no bridge in clear on the campus network
    assert _packets(overlay_dds) == []  # the nodes' DDS stays on the robot: only the bridge


def test_a_topic_not_on_the_allowlist_never_arrives(bridged):
    state, envs = bridged
    sent, heard = _across(state, envs, "/not_allowed")
    assert sent["sent"] > 0 and heard["received"] == 0, (sent, heard)


def test_the_monitor_reads_the_bridge_a_route_across_and_a_listed_topic_without_one(bridged):
    """overlay-status --bridge on r1 while /allowed flows: the bridge is up with r2's connected,
    /allowed goes across, /unused (listed, no node) has no route."""
    from overlay_bringup.discovery.zenoh_bridge import BRIDGE_CONFIG_FILE
    from overlay_lab.state import lab_dir

    state, envs = bridged
    config = lab_dir(PREFIX) / "discovery" / "zenoh-bridge" / "r1" / BRIDGE_CONFIG_FILE
    listen = subprocess.Popen(chatter_argv(state, "r2", envs["r2"], "listen", "--topic",
                                           "/allowed", "--duration", "10"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    talk = subprocess.Popen(chatter_argv(state, "r1", envs["r1"], "talk", "--topic", "/allowed",
                                         "--duration", "10"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 9
        while True:  # until the routes are up (about 2 s after the nodes start)
            report = subprocess.run(robot_exec_argv(state, "r1", proc.python_module(
                "overlay_monitor.status_cli", "--bridge", str(config))),
                capture_output=True, text=True, timeout=30)
            if "across to 1 bridge(s)" in report.stdout or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    finally:
        talk.wait(timeout=30)
        listen.wait(timeout=30)
    # "LEVEL  task  message", as ros2 doctor prints
    lines = {m[2]: m[0] for m in re.finditer(r"^(\w+) +(\S.*?)  +(.*)$", report.stdout, re.M)}
    assert report.returncode == 0, report.stdout + report.stderr
    assert "1 bridge(s) connected" in lines["bridge"], report.stdout
    assert "across to 1 bridge(s)" in lines["bridge topic /allowed"], report.stdout
    assert lines["bridge topic /unused"].startswith("WARN") and "listed but no route" in \
        lines["bridge topic /unused"], report.stdout
