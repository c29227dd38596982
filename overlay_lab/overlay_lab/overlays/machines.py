"""The machines overlay: the tailscale lab's hosts as whole Debian machines (systemd-nspawn),
provisioned the way a lab provisions its fleet: ``overlay-server generate`` of the lab
inventory on the controller, then ``ansible-playbook site.yml`` from a controller namespace over
SSH. Headscale, tailscaled, the guard route and robot.launch.py then run as systemd units inside
the machines, robot.launch.py as the non-root ROS user.

The network is the tailscale lab's (router, campus rules, addresses); the hosts are
``machines.MachineHosts``; the controller is a namespace of this machine (it has Ansible, the
Go-built binaries and the deployment folder) on the lab's admin subnet.
"""
from __future__ import annotations

import json
from pathlib import Path

from overlay_monitor.errors import InputError, LabError

from .. import proc
from ..machines import MACHINES
from ..network import HostLink, LabHosts, NamespaceHosts
from ..provision import ProvisionResult, run_playbook, write_hosts_inventory
from ..services import generate_server, lab_fqdn, lab_inventory, server_url, service_hosts
from ..state import HEADSCALE, PEER_RELAY, LabState, TailscaleRobot, save_state
from ..tailnet import host_etc
from ..topology import (
    CONTROLLER_IP,
    CONTROLLER_ROUTER_IP,
    PEER_RELAY_IP,
    PEER_RELAY_NAME,
    SERVER_IP,
    LabPlan,
    Overlay,
    RobotPlan,
    peer_relay_namespace,
)

#: the server machine's short name (its fqdn's first label is what the inventory names)
SERVER_HOSTNAME = "headscale"


def controller_namespace(prefix: str) -> str:
    return f"{prefix}-ctl"


class MachinesOverlay:
    kind = Overlay.MACHINES
    hosts: LabHosts = MACHINES

    def service_hosts(self, plan: LabPlan) -> list[HostLink]:
        links = []
        for link in service_hosts(plan):
            name = SERVER_HOSTNAME if link.namespace == plan.server_namespace else PEER_RELAY_NAME
            links.append(HostLink(link.namespace, link.router_veth, link.router_ip, link.ip,
                                  {**link.etc, "hostname": f"{name}\n"}, link.rate_kbit))
        return links

    def robot_etc(self, plan: LabPlan, robot: RobotPlan) -> dict[str, str]:
        return {**host_etc(lab_fqdn(plan)), "hostname": f"{robot.name}\n"}

    def build(self, plan: LabPlan, state: LabState, join: bool) -> dict[str, float]:
        state.campus = plan.campus
        state.server_namespace = plan.server_namespace
        NamespaceHosts().make(plan.router_namespace, HostLink(
            plan.controller_namespace, plan.controller_veth, CONTROLLER_ROUTER_IP,
            CONTROLLER_IP, host_etc(lab_fqdn(plan))))
        raw = lab_inventory(plan)
        generate_server(plan.prefix, raw)
        state.server_url = server_url(raw)
        state.services[HEADSCALE] = MACHINES.loop_pid(plan.server_namespace)
        if plan.peer_relay:
            state.services[PEER_RELAY] = MACHINES.loop_pid(plan.peer_relay_namespace)
        for robot in plan.robots:
            state.robots.append(machine_robot(robot))
        write_hosts_inventory(plan.prefix, addresses(state, plan.peer_relay))
        save_state(state)
        if not join:
            return {}
        result = provision(state)
        return {"provision": result.seconds}

    def robot_binds(self, prefix: str, robot: str) -> list[tuple[Path, str]]:
        return []  # a machine has its own files

    def owns_process(self, command_line: str, prefix: str) -> bool:
        return f"-M {prefix}-" in command_line and "systemd-nspawn" in command_line

    def remove(self, prefix: str) -> list[str]:
        return []


def machine_robot(robot: RobotPlan) -> TailscaleRobot:
    """A robot machine's state: its boot loop stands for its overlay process."""
    return TailscaleRobot(name=robot.name, namespace=robot.namespace, interface=robot.interface,
                          underlay_ip=robot.underlay_ip, impairment=robot.impairment.describe(),
                          tailscaled_pid=MACHINES.loop_pid(robot.namespace))


def addresses(state: LabState, peer_relay: bool) -> dict[str, str]:
    """Every machine's inventory name and underlay address."""
    fqdn = state.server_url.split("//", 1)[1].split(":")[0].split("/")[0]
    found = {fqdn: SERVER_IP, **{r.name: r.underlay_ip for r in state.robots}}
    if peer_relay:
        found[PEER_RELAY_NAME] = PEER_RELAY_IP
    return found


def provision(state: LabState, check: bool = False, limit: str = "") -> ProvisionResult:
    """Run site.yml from the controller; then read each robot's overlay address."""
    result = run_playbook(state.prefix, controller_namespace(state.prefix), check, limit)
    if not check:
        for robot in state.robots:
            robot.overlay_ip = overlay_ip(robot.namespace)
        save_state(state)
    return result


def overlay_ip(namespace: str) -> str:
    """The machine's own overlay IPv4 (from its tailscaled), or "" when it has none yet."""
    done = proc.run_result(MACHINES.exec_argv(namespace, ["tailscale", "status", "--json"]))
    if done.returncode != 0:
        return ""
    ips = json.loads(done.stdout).get("TailscaleIPs") or []
    return next((ip for ip in ips if "." in ip), "")


def machine_namespace(state: LabState, host: str) -> str:
    """The namespace of a machine named like the lab names it: r1, server (or srv), dmz."""
    if host in ("server", "srv", SERVER_HOSTNAME) or state.server_url.endswith(f"//{host}"):
        return state.server_namespace
    if host in (PEER_RELAY_NAME, "relay") and state.service(PEER_RELAY):
        return peer_relay_namespace(state.prefix)
    try:
        return state.robot(host).namespace
    except InputError:
        known = ["server", *(r.name for r in state.robots)]
        if state.service(PEER_RELAY):
            known.append(PEER_RELAY_NAME)
        raise LabError(f"no machine {host!r} in lab {state.prefix!r} (machines: "
                       f"{', '.join(known)})") from None
