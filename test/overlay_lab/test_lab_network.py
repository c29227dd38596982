"""The lab over real WireGuard tunnels in network namespaces (root; runs in CI)."""
import json
import subprocess
import sys
import time

import pytest

from overlay_lab.reachability import ping_in_namespace
from overlay_testing import overlay_cli, run_in

pytestmark = pytest.mark.lab

UDP_LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
if len(sys.argv) > 2:
    mreq = socket.inet_aton(sys.argv[2]) + socket.inet_aton("0.0.0.0")
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
s.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 3.0)
print("ready", flush=True)
try:
    print(s.recv(100).decode(), flush=True)
except socket.timeout:
    print("nothing", flush=True)
"""
UDP_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
for _ in range(5):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.05)
"""


def _listen(namespace: str, port: int, group: str = "", timeout: float = 2.0) -> subprocess.Popen:
    args = [str(port)] + ([group, str(timeout)] if group else ["0.0.0.0", str(timeout)])
    if not group:
        args = [str(port)]
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", UDP_LISTEN,
                             *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _send(namespace: str, address: str, port: int, payload: str) -> None:
    result = run_in(namespace, [sys.executable, "-c", UDP_SEND, address, str(port), payload])
    assert result.returncode == 0, result.stderr


def _received(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=10)
    return out.strip()


def test_lab_ping_over_wireguard_between_two_robots(lab3):
    r1, r2 = lab3.robot("r1"), lab3.robot("r2")
    stats = ping_in_namespace(r1.namespace, r2.overlay_ip, count=3)
    assert stats.received == 3, stats


def test_lab_ping_fails_while_the_interface_is_down_and_recovers(lab3):
    r1, r2 = lab3.robot("r1"), lab3.robot("r2")
    subprocess.run(["ip", "-n", r2.namespace, "link", "set", r2.interface, "down"], check=True)
    try:
        assert ping_in_namespace(r1.namespace, r2.overlay_ip, count=3, wait_s=0.5).received == 0
        # r2's overlay traffic must not leak onto the underlay: the guard route rejects it
        result = run_in(r2.namespace, ["ip", "route", "get", r1.overlay_ip])
        assert "unreachable" in result.stdout + result.stderr or result.returncode != 0
    finally:
        subprocess.run(["ip", "-n", r2.namespace, "link", "set", r2.interface, "up"], check=True)
        subprocess.run(["ip", "-n", r2.namespace, "route", "replace", "100.64.0.0/10", "dev",
                        r2.interface], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ping_in_namespace(r1.namespace, r2.overlay_ip, count=1, wait_s=1).received:
            break
    else:
        pytest.fail("r2 did not come back after its interface went up again")


def test_lab_underlay_drops_everything_but_wireguard_between_robots(lab3):
    r1, r2 = lab3.robot("r1"), lab3.robot("r2")
    # ICMP on the underlay: blocked
    assert ping_in_namespace(r1.namespace, r2.underlay_ip, count=2, wait_s=0.5).received == 0
    # UDP to another port: the same datagram crosses the overlay but not the underlay
    overlay = _listen(r2.namespace, 9999)
    _send(r1.namespace, r2.overlay_ip, 9999, "via-overlay")
    assert _received(overlay) == "via-overlay"
    underlay = _listen(r2.namespace, 9999)
    _send(r1.namespace, r2.underlay_ip, 9999, "via-underlay")
    assert _received(underlay) == "nothing"
    # TCP: connects over the overlay, not over the underlay
    server = subprocess.Popen(["ip", "netns", "exec", r2.namespace, sys.executable, "-c",
                               "import socket,time; s=socket.create_server(('0.0.0.0', 9998));"
                               "print('ready', flush=True); time.sleep(6)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        connect = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 9998), "
                   "timeout=1.5); print('connected')\nexcept OSError as e: print('failed', e)")
        over = run_in(r1.namespace, [sys.executable, "-c", connect, r2.overlay_ip])
        under = run_in(r1.namespace, [sys.executable, "-c", connect, r2.underlay_ip])
        assert over.stdout.startswith("connected"), over.stdout + over.stderr
        assert under.stdout.startswith("failed"), under.stdout
    finally:
        server.kill()
        server.wait()


def test_lab_multicast_does_not_cross_the_underlay(lab3):
    r1, r2 = lab3.robot("r1"), lab3.robot("r2")
    group, port = "239.255.0.1", 7400  # the group and port DDS discovery uses
    remote = _listen(r2.namespace, port, group)
    local = _listen(r1.namespace, port, group)  # control: the sender really sends
    _send(r1.namespace, group, port, "spdp-probe")
    assert _received(local) == "spdp-probe"
    assert _received(remote) == "nothing"


def test_lab_up_twice_is_safe_and_a_different_lab_is_refused(lab3):
    from overlay_lab.impairments import Impairment
    from overlay_lab.runner import lab_up
    from overlay_lab.topology import plan_lab
    from overlay_monitor.errors import LabError

    again = lab_up(plan_lab(3, lab3.prefix))
    assert again.already_up
    assert [r.public_key for r in again.state.robots] == [r.public_key for r in lab3.robots]
    with pytest.raises(LabError, match=f"already up with 3 robots.*overlay-lab down --prefix {lab3.prefix}"):
        lab_up(plan_lab(3, lab3.prefix, {"r1": Impairment(loss_percent=1)}))


def test_lab_status_json_lists_each_robot(lab3):
    out = subprocess.run([*overlay_cli("overlay-lab"), "status", "--prefix", lab3.prefix, "--json"],
                         capture_output=True, text=True, check=True).stdout
    status = json.loads(out)
    assert [r["name"] for r in status["robots"]] == ["r1", "r2", "r3"]
    for robot in status["robots"]:
        assert robot["namespace_present"] and robot["alive"] and robot["pid"]
        assert robot["wireguard_go_pid"] in robot["pids"]
        assert robot["overlay_ip"].startswith("100.64.") and robot["interface"].startswith(f"{lab3.prefix}wg")


def test_lab_exec_runs_inside_the_robot_with_a_private_dev_shm(lab3):
    cli = overlay_cli("overlay-lab")
    out = subprocess.run([*cli, "exec", "r2", "--prefix", lab3.prefix, "--", "ip", "-4", "-o",
                          "address", "show"], capture_output=True, text=True, check=True).stdout
    assert "100.64.0.2/32" in out and "198.18.2.2/24" in out
    marker = "/dev/shm/overlay-lab-test-marker"
    subprocess.run([*cli, "exec", "r1", "--prefix", lab3.prefix, "--", "touch", marker], check=True)
    seen_r1 = subprocess.run([*cli, "exec", "r1", "--prefix", lab3.prefix, "--", "test", "-e", marker])
    seen_r2 = subprocess.run([*cli, "exec", "r2", "--prefix", lab3.prefix, "--", "test", "-e", marker])
    assert seen_r1.returncode == 0 and seen_r2.returncode != 0
    missing = subprocess.run([*cli, "exec", "r9", "--prefix", lab3.prefix, "--", "true"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no robot 'r9'" in missing.stderr


def test_lab_keys_are_private(lab3):
    from overlay_lab.state import lab_dir
    from overlay_monitor.files import is_private

    keys = sorted((lab_dir(lab3.prefix) / "keys").iterdir())
    assert len(keys) == 3 and all(is_private(k) for k in keys)
    assert is_private(lab_dir(lab3.prefix))
