"""The one registry of discovery modes: what each needs and which generator makes it. Pure.

The generators, ``overlay-discovery``, the inventory schema and the launch argument choices all
read ``MODES``/``MODE_NAMES`` from here; adding a mode is one entry.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from overlay_monitor.errors import InputError

from . import cyclone, envonly, fastdds, zenoh_bridge
from .model import MAX_PARTICIPANTS, BridgePolicy, DiscoveryConfig, DiscoveryRequest

#: ROS 2 distributions without ROS_STATIC_PEERS / ROS_AUTOMATIC_DISCOVERY_RANGE (before Iron)
DISTROS_WITHOUT_STATIC_PEERS = ("foxy", "galactic", "humble")


@dataclass(frozen=True)
class ModeSpec:
    name: str
    generator: Callable[[DiscoveryRequest], DiscoveryConfig]
    summary: str
    needs_peers: bool = False     # the other members' overlay addresses
    needs_self: bool = False      # this member's own overlay address
    server_hint: str = ""         # non-empty: --server is required; says what it is
    needs_static_peers: bool = False  # ROS_STATIC_PEERS (ROS 2 Iron or newer)

    @property
    def reads_backend(self) -> bool:
        """Whether a live overlay backend is needed when no peer list is given."""
        return self.needs_peers or self.needs_self


_SPECS = (
    ModeSpec("fastdds-peers", fastdds.peers_config, "Fast DDS initial peers over the overlay",
             needs_peers=True, needs_self=True),
    ModeSpec("fastdds-server", fastdds.server_config, "Fast DDS Discovery Server",
             server_hint="the Discovery Server as IP:PORT"),
    ModeSpec("cyclone", cyclone.cyclone_config, "Cyclone DDS unicast peers",
             needs_peers=True, needs_self=True),
    ModeSpec("static-peers", envonly.static_peers_config, "ROS_STATIC_PEERS (ROS 2 Iron+)",
             needs_peers=True, needs_static_peers=True),
    ModeSpec("zenoh", envonly.zenoh_config, "rmw_zenoh routers connected over the overlay",
             needs_peers=True),
    ModeSpec("zenoh-bridge", zenoh_bridge.bridge_config, "Fast DDS on the robot only; a zenoh "
             "bridge carries the chosen topics over the overlay", needs_peers=True,
             needs_self=True),
    ModeSpec("ros1", envonly.ros1_config, "ROS 1 master URI and ROS_IP",
             needs_self=True, server_hint="the ROS master's overlay address or MagicDNS name"),
)
MODES: dict[str, ModeSpec] = {spec.name: spec for spec in _SPECS}
MODE_NAMES: tuple[str, ...] = tuple(MODES)


def mode_spec(name: str) -> ModeSpec:
    try:
        return MODES[name]
    except KeyError:
        raise InputError(f"mode {name!r} is not one of {', '.join(MODE_NAMES)}") from None


def _address(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an IP address") from None


def validate(request: DiscoveryRequest) -> DiscoveryRequest:
    spec = mode_spec(request.mode)
    if not 576 <= request.mtu <= 9000:
        raise InputError(f"MTU {request.mtu} is out of range (expected 576..9000; "
                         "tailscale0 uses 1280)")
    if not 0 <= request.domain_id <= 232:
        raise InputError(f"ROS domain id {request.domain_id} is out of range (expected 0..232)")
    if not 1 <= request.participants <= MAX_PARTICIPANTS:
        raise InputError(f"participants {request.participants} is out of range (expected "
                         f"1..{MAX_PARTICIPANTS} ROS processes per member)")
    self_ip = _address(request.self_ip, "own overlay address") if request.self_ip else ""
    peers = tuple(dict.fromkeys(_address(p, "peer") for p in request.peers))
    if spec.needs_static_peers and request.ros_distro in DISTROS_WITHOUT_STATIC_PEERS:
        raise InputError(f"mode {spec.name} needs ROS 2 Iron or newer (ROS_STATIC_PEERS); "
                         f"{request.ros_distro} does not have it: use fastdds-peers or "
                         "fastdds-server")
    if request.discovery_range not in ("LOCALHOST", "SUBNET"):
        raise InputError(f"discovery range {request.discovery_range!r} is not LOCALHOST or SUBNET")
    if spec.needs_peers and not peers:
        raise InputError(f"mode {spec.name} needs the overlay addresses of the other members "
                         "(--peers, or a running backend to read them from)")
    if spec.needs_self and not self_ip:
        raise InputError(f"mode {spec.name} needs this member's own overlay address (--self)")
    if spec.server_hint and not request.server:
        raise InputError(f"mode {spec.name} needs {spec.server_hint} (--server)")
    if spec.name == "fastdds-server":
        host, sep, port = request.server.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"Discovery Server {request.server!r} is not IP:PORT "
                             "(e.g. 100.64.0.1:11811)")
        _address(host, "Discovery Server")
    if spec.name == "zenoh-bridge":
        check_policy(request.bridge)
    return replace(request, self_ip=self_ip, peers=peers)


def check_policy(policy: BridgePolicy) -> None:
    if policy.rule not in ("allow", "deny"):
        raise InputError(f"bridge rule {policy.rule!r} is not allow or deny")
    for pattern in (*policy.topics, *policy.services, *policy.actions,
                    *(p for p, _ in policy.max_rates)):
        try:
            re.compile(pattern)
        except re.error as err:
            raise InputError(f"bridge pattern {pattern!r} is not a regular expression "
                             f"({err})") from None
    for pattern, hz in policy.max_rates:
        if not 0 < hz <= 10000:
            raise InputError(f"bridge max rate {hz:g} Hz for {pattern!r} is out of range "
                             "(expected more than 0, at most 10000)")
    if policy.namespace and not re.match(r"^/[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$",
                                         policy.namespace):
        raise InputError(f"bridge namespace {policy.namespace!r} is not a ROS namespace "
                         "(e.g. /r1)")
    if policy.router:
        host, sep, port = policy.router.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"bridge router {policy.router!r} is not IP:PORT "
                             "(e.g. 100.64.0.1:7447)")
        _address(host, "bridge router")


def generate(request: DiscoveryRequest) -> DiscoveryConfig:
    request = validate(request)
    config = MODES[request.mode].generator(request)
    config.env.setdefault("ROS_DOMAIN_ID", str(request.domain_id))
    return config
