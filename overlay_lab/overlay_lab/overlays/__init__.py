"""The lab's overlays behind one interface, ``LabOverlay``, looked up by kind in ``OVERLAYS``.

- ``wireguard``: a wireguard-go mesh with keys the lab makes (fast, no Go needed);
- ``tailscale``: the real headscale in a server host and a real tailscaled in every robot;
- ``machines``: the same real programs on systemd-nspawn machines, provisioned by Ansible.

The runner builds the underlay (router, hosts, rules) the same way for both, then hands the
lab to its overlay: ``service_hosts`` are the extra hosts it needs, ``build`` starts it, and
``robot_binds``/``robot_etc`` say how a command runs inside one of its robots.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..network import HostLink, LabHosts
from ..state import LabState
from ..topology import LabPlan, Overlay, RobotPlan


class LabOverlay(Protocol):
    kind: Overlay
    #: the kind of host its robots and services are (namespaces, or machines)
    hosts: LabHosts

    def service_hosts(self, plan: LabPlan) -> list[HostLink]:
        """Hosts besides the robots (the server, a peer relay, a DERP region)."""

    def robot_etc(self, plan: LabPlan, robot: RobotPlan) -> dict[str, str]:
        """A robot's /etc/hosts and resolv.conf before the overlay starts."""

    def build(self, plan: LabPlan, state: LabState, join: bool) -> dict[str, float]:
        """Start the overlay on a lab whose router, hosts and rules exist; records every robot
        and service in ``state``; returns each robot's join time in seconds (may be empty)."""

    def robot_binds(self, prefix: str, robot: str) -> list[tuple[Path, str]]:
        """Folders bind-mounted inside every command the lab runs in ``robot``."""

    def owns_process(self, command_line: str, prefix: str) -> bool:
        """Whether a process with this command line belongs to this overlay in lab ``prefix``."""

    def remove(self, prefix: str) -> list[str]:
        """Remove what the overlay left outside the namespaces; what it removed."""


def overlay_for(kind: Overlay) -> LabOverlay:
    from .machines import MachinesOverlay
    from .tailscale import TailscaleOverlay
    from .wireguard import WireGuardOverlay

    table: dict[Overlay, LabOverlay] = {Overlay.WIREGUARD: WireGuardOverlay(),
                                        Overlay.TAILSCALE: TailscaleOverlay(),
                                        Overlay.MACHINES: MachinesOverlay()}
    return table[kind]
