"""What a machine lab (``overlay-lab up --overlay machines``) does besides up and down:
provision it with Ansible, reboot a machine, open a shell on one, and grow or shrink the fleet
through its inventory, as a lab does when a robot arrives or leaves."""
from __future__ import annotations

import yaml

from overlay_monitor.errors import InputError, LabError

from .machines import MACHINES, known_hosts, ssh_key
from .overlays.machines import (
    addresses,
    controller_namespace,
    machine_namespace,
    machine_robot,
    provision,
)
from .provision import ProvisionResult, set_host_vars, write_hosts_inventory
from .runner import require_state, robot_link
from .services import generate_server, inventory_file
from .state import PEER_RELAY, LabState, save_state
from .topology import OVERLAY_TRAITS, Overlay, plan_lab

SSH_OPTIONS = ("-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
               "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR")


def require_machine_lab(prefix: str) -> LabState:
    state = require_state(prefix)
    if not OVERLAY_TRAITS[state.overlay].provisioned:
        raise LabError(f"lab {prefix!r} runs the {state.overlay} overlay on namespaces: this "
                       "needs machines ('overlay-lab up --overlay machines')")
    return state


def provision_lab(prefix: str, check: bool = False, host_vars: list[str] | None = None,
                  limit: str = "") -> ProvisionResult:
    """``ansible-playbook site.yml`` (``check``: ``--check --diff``; ``limit``: only these
    hosts or groups) from the controller."""
    state = require_machine_lab(prefix)
    if host_vars:
        set_host_vars(prefix, host_vars)
    return provision(state, check, limit)


def reboot(prefix: str, host: str) -> float:
    """Reboot a machine for real (``systemctl reboot`` inside); seconds until systemd runs
    again."""
    state = require_machine_lab(prefix)
    return MACHINES.reboot(machine_namespace(state, host))


def ssh_argv(prefix: str, host: str, argv: list[str], user: str = "root") -> list[str]:
    """``ssh`` from the controller to a machine, with the lab's key and known hosts."""
    state = require_machine_lab(prefix)
    namespace = machine_namespace(state, host)
    address = next(ip for name, ip in addresses(state, bool(state.service(PEER_RELAY))).items()
                   if machine_namespace(state, name) == namespace)
    return ["ip", "netns", "exec", controller_namespace(prefix), "ssh", "-i",
            str(ssh_key(prefix)), "-o", f"UserKnownHostsFile={known_hosts(prefix)}",
            *SSH_OPTIONS, *([] if argv else ["-t"]), f"{user}@{address}", *argv]


def _inventory(prefix: str) -> dict[str, object]:
    raw = yaml.safe_load(inventory_file(prefix).read_text())
    if not isinstance(raw, dict):
        raise LabError(f"{inventory_file(prefix)}: not a fleet inventory")
    return raw


def _team_robots(raw: dict[str, object]) -> list[str]:
    teams = raw["teams"]
    assert isinstance(teams, list)
    robots = teams[0]["robots"]
    assert isinstance(robots, list)
    return robots


def add_robot(prefix: str) -> str:
    """A new robot machine, added to the lab inventory (and the Ansible inventory generate
    writes); provision it with one more playbook run. Its name."""
    state = require_machine_lab(prefix)
    count = len(state.robots) + 1
    plan = plan_lab(count, prefix, overlay=Overlay.MACHINES, campus=state.campus,
                    peer_relay=bool(state.service(PEER_RELAY)))
    robot = plan.robots[-1]
    MACHINES.make(state.router_namespace, robot_link(plan, robot))
    state.robots.append(machine_robot(robot))
    state.robot_count = count
    raw = _inventory(prefix)
    _team_robots(raw).append(robot.name)
    generate_server(prefix, raw)
    write_hosts_inventory(prefix, addresses(state, bool(state.service(PEER_RELAY))))
    save_state(state)
    return robot.name


def retire_robot(prefix: str, name: str) -> None:
    """Take a robot out of the lab inventory (the machine stays: it still exists); the next
    playbook run leaves it alone and apply names its node for removal."""
    require_machine_lab(prefix)
    raw = _inventory(prefix)
    robots = _team_robots(raw)
    if name not in robots:
        raise InputError(f"robot {name!r} is not in the lab inventory (robots: "
                         f"{', '.join(robots)})")
    robots.remove(name)
    generate_server(prefix, raw)
