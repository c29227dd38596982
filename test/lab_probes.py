"""Helpers for tests on a tailscale lab: run a command in a robot, read a robot's paths as
tailscale and as the monitor see them, and run the monitor node with a subscriber that prints
its topics as JSON lines."""
import contextlib
import json
import os
import random
import subprocess
import sys
import time

from overlay_lab.runner import robot_exec_argv
from overlay_testing import overlay_cli


def run_in(state, robot, argv, timeout=60):
    return subprocess.run(robot_exec_argv(state, robot, argv), capture_output=True, text=True,
                          timeout=timeout)


def tailscale_view(state, robot):
    """{peer hostname: (state as the tailscale CLI would print it, CurAddr, Relay)}."""
    raw = json.loads(run_in(state, robot, ["tailscale", "status", "--json"]).stdout)
    view = {}
    for peer in (raw.get("Peer") or {}).values():
        if not peer["Active"]:
            kind = "idle" if peer["Online"] else "offline"
        elif peer["CurAddr"]:
            kind = "direct"
        elif peer.get("PeerRelay"):
            kind = "peer-relay"
        else:
            kind = "derp"
        view[peer["HostName"]] = (kind, peer["CurAddr"], peer["Relay"])
    return view


def monitor_view(state, robot):
    result = run_in(state, robot, [*overlay_cli("overlay-status"), "--json"])
    assert result.returncode == 0, result.stderr
    return {p["hostname"]: p for p in json.loads(result.stdout)["peers"]}


SUBSCRIBER = """
import json, sys, time
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from overlay_msgs.msg import LinkEvent, OverlayStatus
from diagnostic_msgs.msg import DiagnosticArray
NAMES = {1: "direct", 2: "derp", 3: "peer-relay", 4: "idle", 5: "offline", 0: "unknown"}
rclpy.init()
node = rclpy.create_node("lab_probe")
def status(msg):
    print(json.dumps({"t": time.time(), "status": {p.hostname: NAMES[p.state] for p in msg.peers},
                      "reachable": msg.backend_reachable}), flush=True)
def event(msg):
    print(json.dumps({"t": time.time(), "event": [msg.kind, msg.peer, msg.old_state,
                                                   msg.new_state]}), flush=True)
def LEVEL(s):
    return int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else int(s.level)
def diag(msg):
    print(json.dumps({"t": time.time(), "diag": {s.name: LEVEL(s) for s in msg.status},
                      "diag_text": {s.name: s.message for s in msg.status}}), flush=True)
latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
node.create_subscription(OverlayStatus, "/overlay_monitor/status", status, latched)
node.create_subscription(LinkEvent, "/overlay_monitor/events", event, 50)
node.create_subscription(DiagnosticArray, "/diagnostics", diag, 10)
end = time.monotonic() + float(sys.argv[1])
try:
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
except Exception:  # stopped by the test (SIGTERM): nothing to report
    pass
"""


class Lines:
    """JSON lines of a process, read with a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.seen = []

    def until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self.seen.append(record)
            if predicate(record):
                return record
        raise AssertionError(f"not seen within {timeout} s; last: {self.seen[-3:]}")



@contextlib.contextmanager
def monitor_and_probe(state, robot, seconds=150):
    """The monitor node in ``robot`` (poll 0.5 s, ping 2 s) and a subscriber to its topics, in
    the same robot; yields the subscriber's Lines."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    monitor = subprocess.Popen(robot_exec_argv(state, robot, [
        sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args", "-p",
        "poll_period_s:=0.5", "-p", "ping_period_s:=2.0"]), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    probe = subprocess.Popen(robot_exec_argv(state, robot, [sys.executable, "-c", SUBSCRIBER,
                                                             str(seconds)]),
                             env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield Lines(probe)
    finally:
        for proc in (probe, monitor):
            proc.send_signal(2)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def keep_talking(state, seconds):
    """Traffic r1 -> r2 and r1 -> r3 (a path is only known while there is traffic)."""
    return [subprocess.Popen(robot_exec_argv(state, "r1", [
        "ping", "-q", "-i", "0.2", "-w", str(seconds), r.tailscale_ips[0]]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for r in state.robots[1:]]
