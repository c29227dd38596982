"""The WireGuard overlay: wireguard-go in every robot, keys made by the lab, a full mesh.

Secrets never reach argv: ``wg set … private-key FILE`` reads the key from a 0600 file. Pairs
with a delay go through the detour forwarder (``detour.py``) in the router namespace.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from overlay_monitor.errors import LabError
from overlay_monitor.files import write_atomic, write_secret

from .. import proc
from ..detour import READY_LINE
from ..network import HOSTS, HostLink, LabHosts
from ..state import DETOUR, LabState, WireGuardRobot, lab_dir, save_state
from ..topology import (
    OVERLAY_MTU,
    OVERLAY_NETWORK,
    WIREGUARD_PORT,
    LabPlan,
    Overlay,
    RobotPlan,
    detour_config,
)
from ..wgkeys import generate_keypair

WIREGUARD_SOCKET_DIR = Path("/var/run/wireguard")
KEEPALIVE_S = 25
WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


class WireGuardOverlay:
    kind = Overlay.WIREGUARD
    hosts: LabHosts = HOSTS

    def service_hosts(self, plan: LabPlan) -> list[HostLink]:
        return []

    def robot_etc(self, plan: LabPlan, robot: RobotPlan) -> dict[str, str]:
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{r.overlay_ip} {r.name} {r.name}.{plan.prefix}.lab\n" for r in plan.robots)
        return {"hosts": hosts}

    def build(self, plan: LabPlan, state: LabState, join: bool) -> dict[str, float]:
        directory = lab_dir(plan.prefix)
        pid = _start_detour(plan, directory)
        if pid:
            state.services[DETOUR] = pid
        robots = {}
        for robot in plan.robots:
            robots[robot.name] = _start_wireguard(robot, directory / "logs", directory / "keys")
            state.robots.append(robots[robot.name])
            save_state(state)
        _add_peers(plan, robots)
        return {}

    def robot_binds(self, prefix: str, robot: str) -> list[tuple[Path, str]]:
        return []

    def owns_process(self, command_line: str, prefix: str) -> bool:
        return f"{prefix}wg" in command_line or "overlay_lab.detour" in command_line

    def remove(self, prefix: str) -> list[str]:
        removed = []
        for sock in WIREGUARD_SOCKET_DIR.glob(f"{prefix}wg*.sock"):
            sock.unlink(missing_ok=True)
            removed.append(f"socket {sock}")
        return removed


def _start_wireguard(robot: RobotPlan, logs: Path, keys: Path) -> WireGuardRobot:
    keypair = generate_keypair()
    key_file = write_secret(keys / f"{robot.name}.key", keypair.private_key + "\n")
    log = logs / f"wireguard-go-{robot.name}.log"
    process = proc.start(["ip", "netns", "exec", robot.namespace, "wireguard-go", "-f",
                          robot.interface], log, WG_ENV)
    sock = WIREGUARD_SOCKET_DIR / f"{robot.interface}.sock"
    proc.wait_ready(f"wireguard-go for {robot.interface}", sock.exists, process, log,
                    timeout_s=10.0, poll_s=0.05)
    proc.run(["wg", "set", robot.interface, "listen-port", str(WIREGUARD_PORT), "private-key",
              str(key_file)])
    ns = robot.namespace
    proc.run(["ip", "-n", ns, "address", "add", f"{robot.overlay_ip}/32", "dev", robot.interface])
    proc.run(["ip", "-n", ns, "link", "set", robot.interface, "mtu", str(OVERLAY_MTU), "up"])
    proc.run(["ip", "-n", ns, "route", "add", OVERLAY_NETWORK, "dev", robot.interface])
    return WireGuardRobot(name=robot.name, namespace=ns, interface=robot.interface,
                          overlay_ip=robot.overlay_ip, underlay_ip=robot.underlay_ip,
                          public_key=keypair.public_key, wireguard_go_pid=int(process.pid),
                          impairment=robot.impairment.describe())


def _add_peers(plan: LabPlan, robots: dict[str, WireGuardRobot], settle_s: float = 3.0) -> None:
    """Full mesh, then handshakes started from one side of each pair only.

    Keepalives start handshakes. Switched on for both sides at once, the two initiations cross
    (more so behind the delaying detour), each side drops the other's response, and the retry
    comes 5 s later (WireGuard's REKEY_TIMEOUT). So: every robot learns every peer first; then the
    lower-numbered robot of each pair starts; once the sessions exist (or ``settle_s`` passed, e.g.
    at 100 % loss) the other side's keepalive is switched on too.
    """
    pairs = [(robot, other) for robot in plan.robots for other in plan.robots if other is not robot]
    for robot, other in pairs:
        proc.run(["wg", "set", robot.interface, "peer", robots[other.name].public_key,
                  "allowed-ips", f"{other.overlay_ip}/32", "endpoint", plan.endpoint(robot, other)])
    first = [(r, o) for r, o in pairs if r.index < o.index]
    second = [(r, o) for r, o in pairs if r.index > o.index]
    for robot, other in first:
        proc.run(["wg", "set", robot.interface, "peer", robots[other.name].public_key,
                  "persistent-keepalive", str(KEEPALIVE_S)])
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and not all(
            _has_handshake(robot.interface, robots[other.name].public_key)
            for robot, other in first):
        time.sleep(0.05)
    for robot, other in second:
        proc.run(["wg", "set", robot.interface, "peer", robots[other.name].public_key,
                  "persistent-keepalive", str(KEEPALIVE_S)])


def _has_handshake(interface: str, public_key: str) -> bool:
    for line in proc.run(["wg", "show", interface, "latest-handshakes"]).splitlines():
        key, _, when = line.partition("\t")
        if key == public_key:
            return when.strip() not in ("", "0")
    return False


def _start_detour(plan: LabPlan, directory: Path) -> int:
    """The delay forwarder in the router namespace, when some pair takes a detour."""
    if not plan.detours:
        return 0
    config = write_atomic(directory / "detour.json", json.dumps(detour_config(plan)))
    log = directory / "logs" / "detour.log"
    process = proc.start(["ip", "netns", "exec", plan.router_namespace,
                          *proc.python_module("overlay_lab.detour", str(config))], log,
                         proc.python_env())

    def ready() -> bool:
        return READY_LINE in proc.log_tail(log, 100_000)

    try:
        proc.wait_ready("the lab's detour forwarder", ready, process, log, timeout_s=10.0,
                        poll_s=0.05)
    except LabError as err:
        raise LabError(f"the lab's detour forwarder did not start: {err}") from err
    return int(process.pid)
