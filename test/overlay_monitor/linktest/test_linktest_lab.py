"""Link tests in the lab (root): a relayed pair against a direct one, overlay against underlay,
and the seed's confidentiality check: a plaintext marker sent over the overlay never appears on
the underlay, which carries only WireGuard, while it does appear on the WireGuard interface."""
import json
import subprocess
import sys
import time

import pytest

from overlay_lab.impairments import parse_detours
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.topology import plan_lab
from overlay_testing import lab_preconditions, lab_prefix, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.slow]
PREFIX = lab_prefix("ovr")


@pytest.fixture(scope="module")
def relay_lab():
    lab_preconditions()
    state = lab_up(plan_lab(3, PREFIX, detours=parse_detours(["r1-r2:delay=15ms"]),
                            underlay_tests=True)).state
    servers = [subprocess.Popen(robot_exec_argv(state, robot, [
        sys.executable, "-m", "overlay_monitor.linktest.cli", "serve"]),
        stdout=subprocess.PIPE, text=True) for robot in ("r2", "r3")]
    for server in servers:
        assert "serving on" in server.stdout.readline()
    yield state
    for server in servers:
        server.terminate()
        server.wait(timeout=10)
    lab_down(PREFIX)


def _run(state, target, underlay, location, dataset):
    argv = robot_exec_argv(state, "r1", [
        sys.executable, "-m", "overlay_monitor.linktest.cli", "run", "--target", target,
        "--underlay", underlay, "--location", location, "--duration", "1", "--count", "10",
        "--interval", "0.05", "--tool", "builtin", "--dataset", str(dataset), "--backend",
        "wireguard", "--interface", f"{PREFIX}wg1", "--json"])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    overlay, underlay_record = json.loads(result.stdout)
    return overlay, underlay_record


def test_linktest_relayed_pair_is_slower_than_direct_and_than_its_underlay(relay_lab, tmp_path):
    dataset = tmp_path / "lab.jsonl"
    relayed, relayed_under = _run(relay_lab, "100.64.0.2", "198.18.2.2", "relayed", dataset)
    direct, direct_under = _run(relay_lab, "100.64.0.3", "198.18.3.2", "direct", dataset)
    assert relayed["rtt_min_ms"] >= 30.0  # 15 ms each way through the relay host
    assert direct["rtt_avg_ms"] < 20.0 and relayed_under["rtt_avg_ms"] < 5.0
    assert direct["connection_state"] == "direct"  # what WireGuard reports for r3
    for record in (relayed, relayed_under, direct, direct_under):
        assert record["tcp_bps"] > 1e6 and record["udp_loss_percent"] is not None
    assert len(dataset.read_text().splitlines()) == 4
    report = subprocess.run([sys.executable, "-m", "overlay_monitor.linktest.cli", "report",
                             "--dataset", str(dataset), "--out", str(tmp_path / "report")],
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert "relayed" in (tmp_path / "report" / "index.html").read_text()


def test_underlay_carries_only_wireguard_and_never_the_plaintext(relay_lab, tmp_path):
    if subprocess.run(["which", "tcpdump"], capture_output=True).returncode != 0:
        skip_or_fail("tcpdump not installed")
    marker = "OVERLAY-PLAINTEXT-MARKER-7f3a"
    r3 = relay_lab.robot("r3")
    underlay_pcap, overlay_pcap = tmp_path / "underlay.txt", tmp_path / "overlay.txt"
    captures = [
        subprocess.Popen(["ip", "netns", "exec", relay_lab.router_namespace, "tcpdump", "-l",
                          "-n", "-A", "-i", f"{PREFIX}-v3", "-c", "400"],
                         stdout=underlay_pcap.open("w"), stderr=subprocess.DEVNULL),
        subprocess.Popen(["ip", "netns", "exec", r3.namespace, "tcpdump", "-l", "-n", "-A",
                          "-i", r3.interface, "-c", "400"],
                         stdout=overlay_pcap.open("w"), stderr=subprocess.DEVNULL)]
    time.sleep(1.5)
    sender = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              f"for _ in range(20):\n s.sendto(b'{marker}', ('100.64.0.3', 9)); time.sleep(0.02)\n")
    subprocess.run(robot_exec_argv(relay_lab, "r1", [sys.executable, "-c", sender]), check=True,
                   timeout=30)
    time.sleep(1.0)
    for capture in captures:
        capture.terminate()
        capture.wait(timeout=10)
    underlay, overlay = underlay_pcap.read_text(errors="replace"), overlay_pcap.read_text(errors="replace")
    assert marker in overlay, "the marker did not cross the overlay (capture on the wg interface)"
    assert marker not in underlay, "plaintext seen on the underlay"
    packets = [line for line in underlay.splitlines() if " IP " in line]
    assert packets, "nothing captured on the underlay"
    assert all(".51820" in line and "UDP" in line for line in packets), packets[:5]
