"""The WireGuard backend and the monitor engine inside a lab robot, over real tunnels (root)."""
import json
import subprocess
import sys
import time

import pytest

from overlay_lab.runner import robot_exec_argv
from overlay_testing import overlay_cli

pytestmark = pytest.mark.lab

WATCH = """
import json, sys, time
from overlay_monitor.backends.wireguard import WireGuardBackend
from overlay_monitor.monitor import MonitorConfig, OverlayMonitor
monitor = OverlayMonitor(WireGuardBackend(sys.argv[1]),
                         MonitorConfig(poll_period_s=0.3, ping_period_s=0.5, ping_timeout_s=1.0,
                                       full_period_s=0.0))
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    update = monitor.poll()
    print(json.dumps({"peers": {p.hostname: [p.state.value, p.rtt_ms == p.rtt_ms, p.rx_bytes]
                                for p in update.snapshot.peers},
                      "events": [[e.kind, e.peer, e.old_state, e.new_state] for e in update.events],
                      "levels": {c.task: c.level for c in update.checks}}), flush=True)
    time.sleep(0.3)
monitor.close()
"""


def _read_until(proc, predicate, timeout):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        record = json.loads(line)
        seen.append(record)
        if predicate(record):
            return record, seen
    raise AssertionError(f"condition not met in {timeout} s; last: {seen[-1:] if seen else None}")


def test_wireguard_monitor_sees_a_peer_go_offline_and_come_back(lab3):
    r2 = lab3.robot("r2")
    proc = subprocess.Popen(robot_exec_argv(lab3, "r1", [sys.executable, "-c", WATCH,
                                                         lab3.robot("r1").interface, "40"]),
                            stdout=subprocess.PIPE, text=True)
    try:
        record, _ = _read_until(proc, lambda r: r["peers"].get("r2", [""])[:2] == ["direct", True]
                                and r["peers"].get("r3", [""])[:2] == ["direct", True], 15)
        assert record["levels"] == {"client": 0, "peer r2": 0, "peer r3": 0}
        subprocess.run(["ip", "-n", r2.namespace, "link", "set", r2.interface, "down"], check=True)
        record, seen = _read_until(proc, lambda r: r["peers"]["r2"][0] == "offline", 15)
        assert record["levels"]["peer r2"] == 2 and record["peers"]["r3"][0] == "direct"
        assert ["state", "r2", "direct", "offline"] in [e for r in seen for e in r["events"]]
        subprocess.run(["ip", "-n", r2.namespace, "link", "set", r2.interface, "up"], check=True)
        subprocess.run(["ip", "-n", r2.namespace, "route", "replace", "100.64.0.0/10", "dev",
                        r2.interface], check=True)
        _, seen = _read_until(proc, lambda r: r["peers"]["r2"][0] == "direct", 20)
        assert ["state", "r2", "offline", "direct"] in [e for r in seen for e in r["events"]]
    finally:
        proc.kill()
        proc.wait()


def test_overlay_status_cli_inside_a_robot_names_peers_and_measures_rtt(lab3):
    r1 = lab3.robot("r1")
    result = subprocess.run(
        [*overlay_cli("overlay-lab"), "exec", "r1", "--prefix", lab3.prefix, "--",
         *overlay_cli("overlay-status"), "--backend", "wireguard", "--interface", r1.interface,
         "--ping", "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "wireguard" and data["backend_state"] == "Running"
    peers = {p["hostname"]: p for p in data["peers"]}
    assert set(peers) == {"r2", "r3"}  # named from the robot's /etc/hosts
    for name, ip in (("r2", "100.64.0.2"), ("r3", "100.64.0.3")):
        assert peers[name]["ips"] == [ip] and peers[name]["state"] == "direct"
        assert peers[name]["endpoint"].endswith(":51820")
        assert 0 < peers[name]["rtt_ms"] < 1000
