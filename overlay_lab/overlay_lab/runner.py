"""Build, inspect and remove a lab on this machine (root, iproute2, nftables, and the chosen
overlay's programs).

``lab_up`` builds the underlay the same way for every overlay (router, hosts, the router's
rules) and then hands the lab to its overlay (``overlays.overlay_for``). Every process goes
through ``proc``; every host through ``network.HOSTS``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from overlay_bringup.components import require_components
from overlay_bringup.join.plan import guard_route_argv
from overlay_monitor.errors import LabError
from overlay_monitor.files import write_atomic

from . import proc
from .network import HostLink, load_ruleset, make_router
from .overlays import overlay_for
from .rulesets import campus_chain_rules, router_ruleset
from .services import (
    peer_relay_exec_argv,
    server_out,
    start_headscale,
    start_peer_relay,
    start_prometheus,
    start_proxy,
)
from .state import (
    HEADSCALE,
    PEER_RELAY,
    PROMETHEUS,
    PROXY,
    LabState,
    TailscaleRobot,
    lab_dir,
    load_state,
    save_state,
)
from .tailnet import member_home, start_tailscaled
from .topology import (
    CAMPUS_MODES,
    OVERLAY_TRAITS,
    PEER_RELAY_NAME,
    PROXY_CAMPUS,
    LabPlan,
    Overlay,
    RobotPlan,
)

REQUIRED_TOOLS = ("ip", "nft")
#: what each overlay needs besides iproute2 and nftables
OVERLAY_TOOLS: dict[Overlay, tuple[str, ...]] = {
    Overlay.WIREGUARD: ("wg", "wireguard-go"),
    Overlay.TAILSCALE: (),
    Overlay.MACHINES: ("systemd-nspawn", "ssh", "ssh-keygen", "nsenter", "ansible-playbook"),
}
#: which Debian package brings a tool
PACKAGES = {"wireguard-go": "wireguard-go", "wg": "wireguard-tools", "nft": "nftables",
            "ip": "iproute2", "tc": "iproute2", "systemd-nspawn": "systemd-container",
            "ssh": "openssh-client", "ssh-keygen": "openssh-client", "nsenter": "util-linux",
            "ansible-playbook": "ansible-core (pip; tools/setup.sh)", "tinyproxy": "tinyproxy"}


def require_root_and_tools(extra: tuple[str, ...] = ()) -> None:
    if os.geteuid() != 0:
        raise LabError("overlay-lab needs root (it creates network namespaces and WireGuard "
                       "interfaces): run it as root, or with sudo -E env PATH=\"$PATH\" "
                       "overlay-lab …")
    missing = [tool for tool in REQUIRED_TOOLS + extra if shutil.which(tool) is None]
    if missing:
        packages = sorted({PACKAGES.get(tool, tool) for tool in missing})
        raise LabError(f"missing {', '.join(missing)}: install the Debian package(s) "
                       f"{' '.join(packages)} (tools/setup.sh does)")


def lab_namespaces(prefix: str) -> list[str]:
    return [ns for ns in proc.list_namespaces() if ns.startswith(f"{prefix}-")]


def shm_dir(prefix: str, robot: str) -> Path:
    """A robot's private /dev/shm: it keeps Fast DDS's shared-memory transport from connecting
    robots behind the overlay's back."""
    return lab_dir(prefix) / "shm" / robot


def robot_link(plan: LabPlan, robot: RobotPlan) -> HostLink:
    etc = {"machine-id": uuid.uuid4().hex + "\n",   # Fast DDS 3.x identifies hosts by it
           **overlay_for(plan.overlay).robot_etc(plan, robot)}
    return HostLink(robot.namespace, robot.router_veth, robot.router_ip, robot.underlay_ip, etc,
                    robot.impairment.rate_kbit)


def campus_file(prefix: str, campus: str) -> Path:
    """The nft commands that switch lab ``prefix``'s router to ``campus`` (written at up)."""
    return lab_dir(prefix) / "campus" / f"{campus}.nft"


def _build_underlay(plan: LabPlan) -> None:
    """Router, service hosts, robots (each with its private /dev/shm), the router's rules."""
    if plan.traits.has_server:
        for campus in CAMPUS_MODES:
            if campus != PROXY_CAMPUS or plan.has_proxy:
                write_atomic(campus_file(plan.prefix, campus), campus_chain_rules(plan, campus))
    make_router(plan.router_namespace)
    overlay = overlay_for(plan.overlay)
    for link in overlay.service_hosts(plan):
        overlay.hosts.make(plan.router_namespace, link)
    for robot in plan.robots:
        overlay.hosts.make(plan.router_namespace, robot_link(plan, robot))
        if plan.traits.lab_guard_route:
            # a tailscale robot gets its guard route from overlay-join, as a real robot does
            proc.run(overlay.hosts.exec_argv(robot.namespace, guard_route_argv()))
        shm = shm_dir(plan.prefix, robot.name)
        shm.mkdir(parents=True, exist_ok=True)
        shm.chmod(0o1777)
    load_ruleset(plan.router_namespace, router_ruleset(plan))


def _spec_of(plan: LabPlan) -> tuple[int, list[str]]:
    """Robot count and everything else that makes one lab differ from another."""
    impaired = [f"{r.name}:{r.impairment.describe()}" for r in plan.robots
                if not r.impairment.is_none]
    impaired += [f"detour {r.robot_a}-{r.robot_b} ({r.delay_ms:g} ms)" for r in plan.detours]
    if plan.underlay_tests:
        impaired.append("underlay tests allowed")
    if plan.overlay is not Overlay.WIREGUARD:
        impaired.append(f"overlay {plan.overlay}")
    if plan.peer_relay:
        impaired.append("peer relay")
    if plan.derp_region:
        impaired.append("DERP region library")
    if plan.has_proxy:
        impaired.append("web proxy")
    return len(plan.robots), impaired


@dataclass
class UpResult:
    state: LabState
    already_up: bool
    cleaned: list[str] = field(default_factory=list)
    join_times_s: dict[str, float] = field(default_factory=dict)


def lab_up(plan: LabPlan, join: bool = True) -> UpResult:
    """Build the lab; safe to call twice. A half-built lab from a crash is removed first.
    ``join`` (overlays with a server): join every robot with overlay-join; without it the
    robots' tailscaled wait for a login (robot.launch.py's job)."""
    rate = ("tc",) if any(r.impairment.rate_kbit for r in plan.robots) else ()
    proxy = ("tinyproxy",) if plan.has_proxy else ()
    require_root_and_tools(OVERLAY_TOOLS[plan.overlay] + rate + proxy)
    if plan.traits.has_server:
        require_components("headscale", "tailscaled", "tailscale")
    count, impaired = _spec_of(plan)
    existing = load_state(plan.prefix)
    present = set(lab_namespaces(plan.prefix))
    if existing is not None and present == set(plan.namespaces()) and _processes_alive(existing):
        if (existing.robot_count, existing.impairments) == (count, impaired):
            return UpResult(state=existing, already_up=True)
        raise LabError(f"lab {plan.prefix!r} is already up with {existing.robot_count} robots "
                       f"and impairments {existing.impairments or 'none'}; run "
                       f"'overlay-lab down --prefix {plan.prefix}' first")
    cleaned = lab_down(plan.prefix).removed if (existing or present) else []
    directory = lab_dir(plan.prefix)
    for folder in (directory, directory / "logs", directory / "keys"):
        folder.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / "keys").chmod(0o700)
    state = LabState(prefix=plan.prefix, robot_count=count, impairments=impaired,
                     router_namespace=plan.router_namespace, overlay=plan.overlay,
                     created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    try:
        _build_underlay(plan)
        times = overlay_for(plan.overlay).build(plan, state, join)
        save_state(state)
    except BaseException:
        lab_down(plan.prefix)
        raise
    return UpResult(state=state, already_up=False, cleaned=cleaned, join_times_s=times)


def _processes_alive(state: LabState) -> bool:
    pids = [r.pid for r in state.robots] + [state.service(HEADSCALE)]
    return all(proc.alive(pid) for pid in pids if pid)


@dataclass
class DownResult:
    removed: list[str] = field(default_factory=list)


def lab_down(prefix: str) -> DownResult:
    """Remove everything a lab made, using its state file when there is one and the naming
    scheme when there is not (after a crash)."""
    require_root_and_tools()
    result = DownResult()
    state = None
    with contextlib.suppress(Exception):  # a damaged state file must not stop the clean-up
        state = load_state(prefix)
    overlays = [overlay_for(kind) for kind in Overlay]
    kinds = list({id(o.hosts): o.hosts for o in overlays}.values())
    for kind in kinds:  # machines power off first (their processes are theirs to stop)
        result.removed += kind.stop(prefix)
    pids: set[int] = set()
    for ns in lab_namespaces(prefix):
        pids |= proc.pids_in(ns)
    if state is not None:
        for pid in [r.pid for r in state.robots] + list(state.services.values()):
            line = proc.command_line(pid) if pid else ""
            if line and any(o.owns_process(line, prefix) for o in overlays):
                pids.add(pid)
    proc.terminate(pids)
    result.removed += [f"process {pid}" for pid in sorted(pids)]
    for kind in kinds:
        result.removed += kind.remove(prefix)
    for overlay in overlays:
        result.removed += overlay.remove(prefix)
    directory = lab_dir(prefix)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        result.removed.append(f"state, keys and logs in {directory}")
    return result


def require_state(prefix: str) -> LabState:
    state = load_state(prefix)
    if state is None:
        raise LabError(f"no lab {prefix!r} is up (start one with 'overlay-lab up --prefix {prefix}')")
    return state


def _require_server(state: LabState, what: str) -> None:
    if not OVERLAY_TRAITS[state.overlay].has_server:
        raise LabError(f"lab {state.prefix!r} runs the {state.overlay} overlay: {what} needs "
                       "'overlay-lab up --overlay tailscale'")


def robot_env(prefix: str, robot: str) -> dict[str, str]:
    """Environment of every command the lab runs in a robot: its own HOME (ROS logs, the
    discovery files robot.launch.py writes)."""
    return {"HOME": str(member_home(prefix, robot))}


def robot_exec_argv(state: LabState, robot: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` inside ``robot`` with the robot's private /dev/shm and HOME, and
    the overlay's own folders (a tailscale robot's tailscaled socket at the default path)."""
    if not argv:
        raise LabError("nothing to run: give a command after '--'")
    if robot == PEER_RELAY_NAME and state.service(PEER_RELAY):
        return peer_relay_exec_argv(state.prefix, argv)
    target = state.robot(robot)
    overlay = overlay_for(state.overlay)
    if OVERLAY_TRAITS[state.overlay].provisioned:  # a machine: its own /dev/shm, HOME, files
        return overlay.hosts.exec_argv(target.namespace, argv)
    env = robot_env(state.prefix, target.name)
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    binds = [(shm_dir(state.prefix, target.name), "/dev/shm"),
             *overlay.robot_binds(state.prefix, target.name)]
    return overlay.hosts.exec_argv(target.namespace, ["env", *(f"{k}={v}" for k, v in env.items()),
                                                      *argv], binds)


def stop_tailscaled(state: LabState, robot: str) -> None:
    """Stop a robot's tailscaled (as 'systemctl stop tailscaled' would): it removes its routes."""
    proc.stop(state.robot_as(robot, TailscaleRobot).tailscaled_pid)


def restart_tailscaled(prefix: str, robot: str) -> LabState:
    """Stop and start one robot's tailscaled (state kept: it reconnects by itself)."""
    state = require_state(prefix)
    member = state.robot_as(robot, TailscaleRobot)
    proc.stop(member.tailscaled_pid)
    member.tailscaled_pid = start_tailscaled(prefix, member.name, member.namespace,
                                             server_out(prefix) / "tls" / "ca.crt")
    save_state(state)
    return state


def _set_service(prefix: str, name: str, up: bool, start: Callable[[LabState], int],
                 missing: str) -> LabState:
    """Stop the lab service ``name``, or ``start(state)`` it again (returns its pid) when it
    is not running."""
    state = require_state(prefix)
    pid = state.service(name)
    if not pid:
        raise LabError(f"lab {prefix!r} has no {missing}")
    if not up:
        proc.stop(pid)
    elif not proc.alive(pid):
        state.services[name] = start(state)
    save_state(state)
    return state


def set_server(prefix: str, up: bool) -> LabState:
    """Stop a tailscale lab's headscale, or start it again with its database (a server outage
    as robots and admins see it)."""
    return _set_service(prefix, HEADSCALE, up, lambda state: start_headscale(
        prefix, state.server_namespace), "headscale: 'overlay-lab up --overlay tailscale'")


def set_proxy(prefix: str, up: bool) -> LabState:
    """Stop a proxy campus's web proxy (the proxy is down) or start it again."""
    return _set_service(prefix, PROXY, up, lambda state: start_proxy(prefix, state.server_url),
                        "web proxy: 'overlay-lab up --overlay tailscale --campus proxy'")


def set_peer_relay(prefix: str, up: bool) -> LabState:
    """Take a running lab's peer relay down (its tailscaled stops) or bring it back."""
    return _set_service(prefix, PEER_RELAY, up, lambda state: start_peer_relay(
        state, join=False), "peer relay: 'overlay-lab up --overlay tailscale --peer-relay'")


@dataclass(frozen=True)
class Roam:
    robot: str
    old_ip: str
    new_ip: str


def roam_addresses(underlay_ip: str, index: int, subnet: bool) -> tuple[str, str]:
    """The next underlay address of robot ``index`` and its gateway: the next host address in
    its subnet, or (``subnet``) the same host in the other campus subnet (198.18.<i>/24 <->
    198.18.<100+i>/24)."""
    octets = underlay_ip.split(".")
    if subnet:
        third = index + 100 if int(octets[2]) == index else index
        return f"198.18.{third}.{octets[3]}", f"198.18.{third}.1"
    host = int(octets[3]) + 1 if int(octets[3]) < 250 else 2
    return f"{'.'.join(octets[:3])}.{host}", f"{'.'.join(octets[:3])}.1"


def roam(prefix: str, robot: str, subnet: bool = False) -> Roam:
    """Change a running robot's underlay address under its overlay, as a Wi-Fi hand-over does
    (``subnet``: to another campus subnet)."""
    state = require_state(prefix)
    target = state.robot(robot)
    index = int(target.name.removeprefix("r"))
    new_ip, new_gateway = roam_addresses(target.underlay_ip, index, subnet)
    old_gateway = ".".join(target.underlay_ip.split(".")[:3]) + ".1"
    link = HostLink(target.namespace, f"{prefix}-v{index}", old_gateway, target.underlay_ip, {})
    overlay_for(state.overlay).hosts.readdress(state.router_namespace, link, new_ip, new_gateway)
    result = Roam(target.name, target.underlay_ip, new_ip)
    target.underlay_ip = new_ip
    save_state(state)
    return result


def switch_campus(prefix: str, campus: str) -> LabState:
    """Open or close a running tailscale lab's campus (only its campus chain changes)."""
    state = require_state(prefix)
    _require_server(state, "a campus mode")
    if campus not in CAMPUS_MODES:
        raise LabError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")
    rules = campus_file(prefix, campus)
    if not rules.is_file():
        raise LabError(f"lab {prefix!r} has no web proxy host, so no {campus!r} campus: build it "
                       f"with 'overlay-lab up --overlay tailscale --campus {campus}'")
    load_ruleset(state.router_namespace, rules.read_text())
    state.campus = campus
    save_state(state)
    return state


def start_lab_prometheus(prefix: str) -> LabState:
    """Prometheus in a running tailscale lab's server namespace, scraping over the overlay."""
    state = require_state(prefix)
    _require_server(state, "Prometheus over the overlay")
    state.services[PROMETHEUS] = start_prometheus(state)
    save_state(state)
    return state


def lab_status(prefix: str) -> dict[str, object]:
    """What `overlay-lab status --json` prints."""
    state = require_state(prefix)
    present = set(lab_namespaces(prefix))
    robots = []
    for robot in state.robots:
        pids = sorted(proc.pids_in(robot.namespace)) if robot.namespace in present else []
        robots.append({**robot.__dict__, "namespace_present": robot.namespace in present,
                       "pid": robot.pid, "alive": proc.alive(robot.pid), "pids": pids})
    return {"prefix": prefix, "created_at": state.created_at, "overlay": str(state.overlay),
            "campus": state.campus, "server_url": state.server_url,
            "router_namespace": state.router_namespace, "services": state.services,
            "impairments": state.impairments, "robots": robots}
