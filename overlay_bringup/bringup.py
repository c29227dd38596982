"""What robot.launch.py / developer.launch.py do, as a tested function: join (when asked), read
the overlay, generate the discovery configuration, and return the environment for every node.

No launch imports here; ``launch_actions`` turns the plan into launch actions.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from overlay_monitor.backends import make_backend
from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.errors import InputError
from overlay_monitor.models import OverlaySnapshot

from .discovery import DiscoveryRequest, generate
from .discovery.files import DEFAULT_DIR, environment, write_config
from .discovery.live import peer_addresses, self_address
from .discovery.model import DEFAULT_PARTICIPANTS, BridgePolicy
from .discovery.policy_file import load_policy
from .join.plan import JoinRequest
from .join.proxy import DEFAULT_ENV_FILE, DEFAULT_RESTART
from .join.runner import (
    ProxySetting,
    default_result_path,
    ensure_guard_route,
    join,
    write_result,
)


@dataclass(frozen=True)
class BringupOptions:
    robot_name: str = ""
    login_server: str = ""          # empty: do not join (already a member, e.g. a laptop)
    auth_key_file: str = ""
    tags: tuple[str, ...] = ()
    ca_file: str = ""
    discovery_mode: str = "fastdds-peers"
    domain_id: int = 0
    discovery_server: str = ""
    backend: str = "tailscale"
    socket_path: str = DEFAULT_SOCKET
    interface: str = "tailscale0"
    discovery_dir: str = ""
    ros_distro: str = "jazzy"
    tailscale: str = "tailscale"
    guard_route: bool = True        # after joining, install the guard route (see join.plan)
    relay_server_port: int = 0      # after joining, serve as a peer relay on this UDP port
    bridge_policy_file: str = ""    # zenoh-bridge: the team's bridge.json (from its bundle)
    bridge_plugin_dir: str = ""     # zenoh-bridge: where the ros2dds plugin is
    participants: int = DEFAULT_PARTICIPANTS  # fastdds-peers: ROS processes per member
    proxy: str = ""                 # a web proxy for tailscaled ("none": remove; "": leave)
    proxy_env_file: str = DEFAULT_ENV_FILE
    tailscaled_restart: str = DEFAULT_RESTART


@dataclass
class BringupPlan:
    env: dict[str, str]
    snapshot: OverlaySnapshot
    discovery_dir: Path
    joined: str                      # "joined", "already joined", "not asked"
    notes: list[str] = field(default_factory=list)


def bring_up(options: BringupOptions) -> BringupPlan:
    if options.login_server:
        if not options.auth_key_file:
            raise InputError("login_server is set but auth_key_file is empty: give the "
                             "team's auth.key (from its enrolment bundle)")
        join_request = JoinRequest(options.login_server, options.auth_key_file,
                                   options.robot_name or socket.gethostname(), options.tags,
                                   relay_server_port=options.relay_server_port)
        proxy = (ProxySetting(options.proxy, options.proxy_env_file, options.tailscaled_restart)
                 if options.proxy else None)
        result = join(join_request, options.socket_path, options.tailscale, options.ca_file or None,
                      proxy=proxy)
        result.guard_route = guard_note = (ensure_guard_route() if options.guard_route
                                           else "guard route not asked (guard_route:=false)")
        if result.proxy:
            guard_note += f"; {result.proxy}"
        if result.relay_server_port:
            guard_note += f"; serving as a peer relay on UDP port {result.relay_server_port}"
        write_result(result, default_result_path())
        snapshot = result.snapshot
        joined = "already joined" if result.action.value == "nothing" else "joined"
    elif options.proxy:
        raise InputError("proxy needs login_server (the proxy is set while joining)")
    elif options.relay_server_port:
        raise InputError("relay_server_port needs login_server (the relay joins with its own "
                         "bundle)")
    else:
        backend = make_backend(options.backend, options.socket_path, options.interface)
        try:
            snapshot = backend.snapshot()
        finally:
            backend.close()
        joined, guard_note = "not asked", ""
        if snapshot.backend_state != "Running":
            raise InputError(f"the overlay is {snapshot.backend_state}, not Running, and no "
                             "login_server was given to join it")
    me = self_address(snapshot)
    request = DiscoveryRequest(
        mode=options.discovery_mode, self_ip=me,
        peers=peer_addresses(snapshot) + ((me,) if me else ()), interface=options.interface,
        domain_id=options.domain_id, server=options.discovery_server,
        ros_distro=options.ros_distro,
        bridge=load_policy(options.bridge_policy_file, me_name(snapshot, options.robot_name))
        if options.bridge_policy_file else BridgePolicy(),
        bridge_plugin_dir=options.bridge_plugin_dir, participants=options.participants)
    config = generate(request)
    directory = Path(options.discovery_dir) if options.discovery_dir else DEFAULT_DIR
    write_config(config, directory)
    notes = ([guard_note] if guard_note else []) + list(config.notes)
    return BringupPlan(env=environment(config, directory), snapshot=snapshot,
                       discovery_dir=directory, joined=joined, notes=notes)


def me_name(snapshot: OverlaySnapshot, fallback: str) -> str:
    me = snapshot.self_peer
    return (me.hostname if me and me.hostname else fallback) or socket.gethostname()


def truthy(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise InputError(f"{text!r} is not true or false")
