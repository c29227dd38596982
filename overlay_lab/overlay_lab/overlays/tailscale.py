"""The tailscale overlay: the real headscale (embedded DERP and STUN) in a server host, the
real tailscaled in every robot, joined with ``overlay-join`` (or, with ``join=False``, left
for robot.launch.py to join)."""
from __future__ import annotations

from pathlib import Path

from ..network import HOSTS, HostLink, LabHosts
from ..services import (
    lab_fqdn,
    service_hosts,
    start_derper,
    start_peer_relay,
    start_proxy,
    start_server,
)
from ..state import DERPER, HEADSCALE, PEER_RELAY, PROXY, LabState, TailscaleRobot, lab_dir, save_state
from ..tailnet import (
    host_etc,
    join_all,
    member_binds,
    start_tailscaled,
    update_hosts,
    write_member_proxy,
)
from ..topology import PROXY_URL, LabPlan, Overlay, RobotPlan


class TailscaleOverlay:
    kind = Overlay.TAILSCALE
    hosts: LabHosts = HOSTS

    def service_hosts(self, plan: LabPlan) -> list[HostLink]:
        return service_hosts(plan)

    def robot_etc(self, plan: LabPlan, robot: RobotPlan) -> dict[str, str]:
        # the server's name; robot names are added once Headscale has given them addresses
        return host_etc(lab_fqdn(plan))

    def build(self, plan: LabPlan, state: LabState, join: bool) -> dict[str, float]:
        state.campus = plan.campus
        state.server_namespace = plan.server_namespace
        save_state(state)
        state.services[HEADSCALE], team = start_server(plan)
        state.server_url = team.url
        save_state(state)
        if plan.derp_region:
            state.services[DERPER] = start_derper(plan)
            save_state(state)
        if plan.has_proxy:
            state.services[PROXY] = start_proxy(plan.prefix, team.url)
            save_state(state)
        for robot in plan.robots:
            if plan.has_proxy:  # as the Ansible role writes /etc/default/tailscaled
                write_member_proxy(plan.prefix, robot.name, PROXY_URL)
            pid = start_tailscaled(plan.prefix, robot.name, robot.namespace, team.ca_file)
            state.robots.append(TailscaleRobot(
                name=robot.name, namespace=robot.namespace, interface=robot.interface,
                underlay_ip=robot.underlay_ip, impairment=robot.impairment.describe(),
                tailscaled_pid=pid))
            save_state(state)
        if plan.peer_relay:
            state.services[PEER_RELAY] = start_peer_relay(state)
            save_state(state)
        if not join:
            return {}
        times = join_all(state, team)
        update_hosts(state)
        return times

    def robot_binds(self, prefix: str, robot: str) -> list[tuple[Path, str]]:
        return member_binds(prefix, robot)

    def owns_process(self, command_line: str, prefix: str) -> bool:
        return str(lab_dir(prefix)) in command_line

    def remove(self, prefix: str) -> list[str]:
        return []
