"""The discovery request and the configuration a generator makes of it. Pure types.

Which modes exist and what each needs is in ``modes`` (the one registry).
"""
from __future__ import annotations

from dataclasses import dataclass, field

IPV4_UDP_HEADERS = 28
#: headroom under the MTU for IP options and RTPS submessage alignment
MTU_HEADROOM = 52


@dataclass(frozen=True)
class BridgePolicy:
    """What a team's bridges carry across the overlay."""

    #: "allow" (only these cross) or "deny" (everything but these crosses)
    rule: str = "deny"
    topics: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    #: (regular expression, Hz): publications above this rate are dropped by the bridge
    max_rates: tuple[tuple[str, float], ...] = ()
    #: prefix of every routed name ("" none), e.g. "/r1"
    namespace: str = ""
    #: star instead of mesh: the one router every bridge connects to, "IP:PORT" ("": mesh)
    router: str = ""

    def to_json(self) -> dict[str, object]:
        return {"rule": self.rule, "topics": list(self.topics), "services": list(self.services),
                "actions": list(self.actions),
                "max_rates": {pattern: hz for pattern, hz in self.max_rates},
                "namespace": self.namespace, "router": self.router}


#: ROS processes per member that fastdds-peers finds (Fast DDS's maxInitialPeersRange)
DEFAULT_PARTICIPANTS = 16
#: the participant ids of one domain: (250 ports - 10) / 2 ports each
MAX_PARTICIPANTS = 120


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
    #: zenoh-bridge: what crosses, the namespace, mesh or star
    bridge: BridgePolicy = field(default_factory=BridgePolicy)
    #: zenoh-bridge: the folder with the ros2dds plugin library ("": zenohd's own search path)
    bridge_plugin_dir: str = ""
    #: fastdds-peers: how many ROS processes (DDS participants) one member may run. Fast DDS
    #: guesses a peer's participants by port, and only this many (its default is 4): a fifth
    #: process on two robots never finds the other's (measured with 5 nodes per robot)
    participants: int = DEFAULT_PARTICIPANTS

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
    #: more environments (``env.<name>`` files), e.g. "introspection"; "{dir}" in a value
    #: becomes the folder the files are written to
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    restart_needed_on_peer_change: bool = True
