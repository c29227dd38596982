"""The discovery request, its validation, and the dispatch to each mode's generator. Pure."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from overlay_monitor.errors import InputError

MODES = ("fastdds-peers", "fastdds-server", "cyclone", "static-peers", "zenoh", "ros1")
#: ROS 2 distributions without ROS_STATIC_PEERS / ROS_AUTOMATIC_DISCOVERY_RANGE (before Iron)
DISTROS_WITHOUT_STATIC_PEERS = ("foxy", "galactic", "humble")
IPV4_UDP_HEADERS = 28
#: headroom under the MTU for IP options and RTPS submessage alignment
MTU_HEADROOM = 52


@dataclass(frozen=True)
class DiscoveryRequest:
    mode: str
    self_ip: str
    peers: tuple[str, ...]
    interface: str = "tailscale0"
    mtu: int = 1280
    domain_id: int = 0
    server: str = ""            # fastdds-server: "IP:PORT"; ros1: master "IP" or "name"
    ros_distro: str = "jazzy"
    discovery_range: str = "LOCALHOST"   # static-peers: LOCALHOST or SUBNET

    @property
    def max_message_size(self) -> int:
        """Largest RTPS datagram that is not IP-fragmented inside the tunnel."""
        return self.mtu - IPV4_UDP_HEADERS - MTU_HEADROOM

    def other_peers(self) -> tuple[str, ...]:
        return tuple(p for p in self.peers if p != self.self_ip)


@dataclass
class DiscoveryConfig:
    mode: str
    files: dict[str, str] = field(default_factory=dict)       # file name -> content
    env: dict[str, str] = field(default_factory=dict)         # set for every ROS process
    file_env: dict[str, str] = field(default_factory=dict)    # env var -> file name (made absolute)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # e.g. "introspection"
    notes: list[str] = field(default_factory=list)
    restart_needed_on_peer_change: bool = True


def _address(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an IP address") from None


def validate(request: DiscoveryRequest) -> DiscoveryRequest:
    if request.mode not in MODES:
        raise InputError(f"mode {request.mode!r} is not one of {', '.join(MODES)}")
    if not 576 <= request.mtu <= 9000:
        raise InputError(f"MTU {request.mtu} is out of range (expected 576..9000; "
                         "tailscale0 uses 1280)")
    if not 0 <= request.domain_id <= 232:
        raise InputError(f"ROS domain id {request.domain_id} is out of range (expected 0..232)")
    self_ip = _address(request.self_ip, "own overlay address") if request.self_ip else ""
    peers = tuple(dict.fromkeys(_address(p, "peer") for p in request.peers))
    if request.mode == "static-peers" and request.ros_distro in DISTROS_WITHOUT_STATIC_PEERS:
        raise InputError(f"mode static-peers needs ROS 2 Iron or newer (ROS_STATIC_PEERS); "
                         f"{request.ros_distro} does not have it: use fastdds-peers or "
                         "fastdds-server")
    if request.discovery_range not in ("LOCALHOST", "SUBNET"):
        raise InputError(f"discovery range {request.discovery_range!r} is not LOCALHOST or SUBNET")
    if request.mode in ("fastdds-peers", "cyclone", "static-peers", "zenoh") and not peers:
        raise InputError(f"mode {request.mode} needs the overlay addresses of the other members "
                         "(--peers, or a running backend to read them from)")
    if request.mode in ("fastdds-peers", "cyclone", "ros1") and not self_ip:
        raise InputError(f"mode {request.mode} needs this member's own overlay address (--self)")
    if request.mode in ("fastdds-server", "ros1") and not request.server:
        what = "the Discovery Server as IP:PORT" if request.mode == "fastdds-server" \
            else "the ROS master's overlay address or MagicDNS name"
        raise InputError(f"mode {request.mode} needs {what} (--server)")
    if request.mode == "fastdds-server":
        host, sep, port = request.server.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"Discovery Server {request.server!r} is not IP:PORT "
                             "(e.g. 100.64.0.1:11811)")
        _address(host, "Discovery Server")
    return DiscoveryRequest(request.mode, self_ip, peers, request.interface, request.mtu,
                            request.domain_id, request.server, request.ros_distro,
                            request.discovery_range)


def generate(request: DiscoveryRequest) -> DiscoveryConfig:
    from . import cyclone, envonly, fastdds

    request = validate(request)
    generators = {"fastdds-peers": fastdds.peers_config, "fastdds-server": fastdds.server_config,
                  "cyclone": cyclone.cyclone_config, "static-peers": envonly.static_peers_config,
                  "zenoh": envonly.zenoh_config, "ros1": envonly.ros1_config}
    config = generators[request.mode](request)
    config.env.setdefault("ROS_DOMAIN_ID", str(request.domain_id))
    return config
