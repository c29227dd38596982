"""Plan a lab: names, addresses, ports and rules, computed without touching the machine.

Layout (N robots, prefix P):
- router namespace ``P-rt``; robot i in namespace ``P-r<i>``, joined to the router by a veth
  pair (``P-v<i>`` on the router, ``eth0`` in the robot) on underlay subnet 198.18.<i>.0/24
  (router .1, robot .2). 198.18.0.0/15 is reserved for benchmarking (RFC 2544).
- robot i has a WireGuard interface ``P`` + ``wg<i>`` (names must be unique on the machine:
  wireguard-go's control sockets in /var/run/wireguard are shared by every namespace), overlay
  address 100.64.0.<i>/32 (Tailscale's CGNAT range), MTU 1280 like tailscale0, full mesh.
- the router forwards only WireGuard UDP between robots; nothing reaches the host's namespace.
- a pair with a delayed robot goes through the userspace relay in the router namespace.

With ``overlay="tailscale"`` the robots run the real tailscaled instead (interface tailscale0,
addresses from Headscale), and a server namespace ``P-srv`` on 198.19.0.0/24 runs the real
headscale with its embedded DERP and STUN; ``campus`` says what the router lets through
(``campus.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations

from overlay_monitor.errors import InputError

from .impairments import Impairment

WIREGUARD_PORT = 51820
RELAY_BASE_PORT = 40000
OVERLAY_MTU = 1280
OVERLAY_NETWORK = "100.64.0.0/10"
MAX_ROBOTS = 200
DEFAULT_PREFIX = "ovl"
OVERLAYS = ("wireguard", "tailscale")
CAMPUS_MODES = ("open", "restrictive")
TAILSCALE_INTERFACE = "tailscale0"
#: tailscaled's UDP port (WireGuard and disco) on every lab robot
TAILSCALED_PORT = 41641
SERVER_SUBNET = "198.19.0.0/24"
SERVER_ROUTER_IP = "198.19.0.1"
SERVER_IP = "198.19.0.2"
#: ``--peer-relay``: a relay host in the campus DMZ, namespace ``P-pr``; robots reach it on one
#: UDP port only (``tailscale set --relay-server-port``)
PEER_RELAY_NAME = "dmz"
PEER_RELAY_PORT = 40641
PEER_RELAY_ROUTER_IP = "198.19.1.1"
PEER_RELAY_IP = "198.19.1.2"
#: ``--derp-region``: a second DERP region (the real derper) in a library building, namespace
#: ``P-dl``; the last robot stands in the library: it reaches STUN only there, so it homes there
DERP_REGION_ID = 901
DERP_REGION_CODE = "library"
DERP_REGION_HOST = "derp-library.lab.example.edu"
DERP_REGION_ROUTER_IP = "198.19.2.1"
DERP_REGION_IP = "198.19.2.2"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


@dataclass(frozen=True)
class RobotPlan:
    index: int
    name: str
    namespace: str
    wg_interface: str
    overlay_ip: str
    underlay_ip: str
    router_ip: str
    router_veth: str
    impairment: Impairment = field(default_factory=Impairment)

    @property
    def underlay_subnet(self) -> str:
        return f"198.18.{self.index}.0/24"


@dataclass(frozen=True)
class RelayRoute:
    """One relayed pair: the relay listens on ``port`` and forwards between the two robots."""

    port: int
    robot_a: str
    robot_b: str
    delay_ms: float


#: ports opened on the underlay between robots with ``underlay_tests``: link-test server, iperf3
UNDERLAY_TEST_PORTS = (5301, 5302, 5201)
#: ``underlay_tests`` also pass this ROS domain's DDS ports (7400 + 250 * domain, the next 50):
#: the ROS baseline of the path experiment runs on the underlay in this domain only
UNDERLAY_DDS_DOMAIN = 7
UNDERLAY_DDS_PORTS = f"{7400 + 250 * UNDERLAY_DDS_DOMAIN}-{7400 + 250 * UNDERLAY_DDS_DOMAIN + 49}"


@dataclass(frozen=True)
class LabPlan:
    prefix: str
    robots: tuple[RobotPlan, ...]
    relay_routes: tuple[RelayRoute, ...]
    #: also let ICMP echo and the link-test/iperf3 ports cross the underlay (to compare paths)
    underlay_tests: bool = False
    overlay: str = "wireguard"
    campus: str = "restrictive"
    #: tailscale overlay: a peer relay host the campus lets robots reach on one UDP port
    peer_relay: bool = False
    #: tailscale overlay: a second DERP region (derper) where the last robot homes
    derp_region: bool = False

    @property
    def server_namespace(self) -> str:
        return f"{self.prefix}-srv"

    @property
    def peer_relay_namespace(self) -> str:
        return peer_relay_namespace(self.prefix)

    @property
    def peer_relay_veth(self) -> str:
        return f"{self.prefix}-vp"

    @property
    def derp_namespace(self) -> str:
        return f"{self.prefix}-dl"

    @property
    def derp_veth(self) -> str:
        return f"{self.prefix}-vd"

    @property
    def library_robot(self) -> RobotPlan | None:
        """The robot in the library building (with ``derp_region``): the last one."""
        return self.robots[-1] if self.derp_region else None

    @property
    def server_veth(self) -> str:
        return f"{self.prefix}-vs"

    @property
    def router_namespace(self) -> str:
        return f"{self.prefix}-rt"

    def robot(self, name: str) -> RobotPlan:
        for robot in self.robots:
            if name in (robot.name, robot.namespace):
                return robot
        known = ", ".join(r.name for r in self.robots)
        raise InputError(f"no robot {name!r} in lab {self.prefix!r} (robots: {known})")

    def relay_route(self, a: str, b: str) -> RelayRoute | None:
        for route in self.relay_routes:
            if {route.robot_a, route.robot_b} == {a, b}:
                return route
        return None

    def endpoint(self, src: RobotPlan, dst: RobotPlan) -> str:
        """The underlay endpoint ``src`` uses to reach ``dst``'s WireGuard port."""
        route = self.relay_route(src.name, dst.name)
        if route is None:
            return f"{dst.underlay_ip}:{WIREGUARD_PORT}"
        return f"{src.router_ip}:{route.port}"

    def namespaces(self) -> list[str]:
        server = [self.server_namespace] if self.overlay == "tailscale" else []
        relay = [self.peer_relay_namespace] if self.peer_relay else []
        derp = [self.derp_namespace] if self.derp_region else []
        return ([self.router_namespace, *server, *relay, *derp]
                + [r.namespace for r in self.robots])


def peer_relay_namespace(prefix: str) -> str:
    """The namespace of a lab's peer relay host (``--peer-relay``)."""
    return f"{prefix}-pr"


def validate_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise InputError(f"lab prefix {prefix!r} is not 1-8 lowercase letters and digits "
                         "starting with a letter (it becomes part of interface names, max 15 chars)")
    return prefix


def plan_lab(robot_count: int, prefix: str = DEFAULT_PREFIX,
             impairments: dict[str, Impairment] | None = None,
             relays: dict[frozenset[str], float] | None = None,
             underlay_tests: bool = False, overlay: str = "wireguard",
             campus: str = "restrictive", peer_relay: bool = False,
             derp_region: bool = False) -> LabPlan:
    """Compute every name, address and relay route of a lab of ``robot_count`` robots."""
    validate_prefix(prefix)
    if overlay not in OVERLAYS:
        raise InputError(f"overlay {overlay!r} is not one of {', '.join(OVERLAYS)}")
    if campus not in CAMPUS_MODES:
        raise InputError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")
    if peer_relay and overlay != "tailscale":
        raise InputError("--peer-relay needs --overlay tailscale (peer relays are Tailscale's)")
    if derp_region and overlay != "tailscale":
        raise InputError("--derp-region needs --overlay tailscale (DERP is Tailscale's relay)")
    if not 2 <= robot_count <= MAX_ROBOTS:
        raise InputError(f"robot count {robot_count} is out of range (expected 2..{MAX_ROBOTS})")
    impairments = dict(impairments or {})
    names = [f"r{i}" for i in range(1, robot_count + 1)]
    unknown = sorted(set(impairments) - set(names))
    if unknown:
        raise InputError(f"impairment for unknown robot(s) {', '.join(unknown)} "
                         f"(this lab has {names[0]}..{names[-1]})")
    relays = dict(relays or {})
    if overlay == "tailscale":
        delayed = sorted(n for n, i in impairments.items() if i.delay_ms)
        if relays or delayed:
            raise InputError("the tailscale overlay finds its own paths (direct, DERP): "
                             f"--relay and delay= are for --overlay wireguard (got "
                             f"{', '.join(delayed) or 'a relay'}); use loss= and rate=")
    unknown = sorted({r for pair in relays for r in pair} - set(names))
    if unknown:
        raise InputError(f"relay for unknown robot(s) {', '.join(unknown)} "
                         f"(this lab has {names[0]}..{names[-1]})")
    robots = tuple(
        RobotPlan(index=i, name=name, namespace=f"{prefix}-{name}",
                  wg_interface=TAILSCALE_INTERFACE if overlay == "tailscale" else f"{prefix}wg{i}",
                  overlay_ip=f"100.64.0.{i}",
                  underlay_ip=f"198.18.{i}.2", router_ip=f"198.18.{i}.1",
                  router_veth=f"{prefix}-v{i}", impairment=impairments.get(name, Impairment()))
        for i, name in enumerate(names, start=1))
    routes: list[RelayRoute] = []
    for a, b in combinations(robots, 2):
        relayed = frozenset((a.name, b.name)) in relays
        delay = a.impairment.delay_ms + b.impairment.delay_ms + relays.get(
            frozenset((a.name, b.name)), 0.0)
        if delay > 0 or relayed:
            routes.append(RelayRoute(port=RELAY_BASE_PORT + len(routes), robot_a=a.name,
                                     robot_b=b.name, delay_ms=delay))
    return LabPlan(prefix=prefix, robots=robots, relay_routes=tuple(routes),
                   underlay_tests=underlay_tests, overlay=overlay, campus=campus,
                   peer_relay=peer_relay, derp_region=derp_region)


def _loss_rules(robots: tuple[RobotPlan, ...]) -> list[str]:
    rules = []
    for robot in robots:
        # numgen over 10000 buckets so fractional percentages (0.5 %) work
        threshold = round(robot.impairment.loss_percent * 100)
        if threshold:
            subnet = robot.underlay_subnet
            rules.append(f"ip saddr {subnet} numgen random mod 10000 < {threshold} drop")
            rules.append(f"ip daddr {subnet} numgen random mod 10000 < {threshold} drop")
    return rules


def router_ruleset(plan: LabPlan) -> str:
    """The router's nftables ruleset (the tailscale overlay's is ``campus_ruleset``)."""
    if plan.overlay == "tailscale":
        return campus_ruleset(plan, plan.campus)
    return wireguard_ruleset(plan)


def _underlay_test_rules(plan: LabPlan, stateless: bool = False) -> str:
    """Rules that let ping and the link-test/iperf3 ports cross the underlay. ``stateless``
    matches replies by port instead of connection tracking, which would also keep other flows
    of the same robots alive across a campus switch."""
    if not plan.underlay_tests:
        return ""
    ports = ", ".join([str(p) for p in UNDERLAY_TEST_PORTS] + [UNDERLAY_DDS_PORTS])
    if stateless:
        return (f"    icmp type {{ echo-request, echo-reply }} accept\n"
                f"    meta l4proto {{ tcp, udp }} th dport {{ {ports} }} accept\n"
                f"    meta l4proto {{ tcp, udp }} th sport {{ {ports} }} accept\n")
    return (f"    ct state established,related accept\n"
            f"    icmp type echo-request accept\n"
            f"    meta l4proto {{ tcp, udp }} th dport {{ {ports} }} accept\n")


def campus_ruleset(plan: LabPlan, campus: str) -> str:
    """The router of a tailscale lab: a campus network.

    Always: robots reach the server's HTTPS port (control plane and DERP, TCP) and its STUN port
    (UDP), and nothing else of it. ``open``: UDP between robots passes too, so tailscaled finds
    direct paths. ``restrictive`` (the seed study's campus): nothing passes between robots, so
    every pair is DERP-relayed. With a peer relay, robots reach the relay host on its UDP port
    only, and the relay reaches the server like a robot. Rules match addresses and ports both
    ways, without connection tracking, so a switch takes effect on flows that already exist.
    """
    if campus not in CAMPUS_MODES:
        raise InputError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")
    robots = "198.18.0.0/16"
    open_rules = (f"    ip saddr {robots} ip daddr {robots} meta l4proto udp accept\n"
                  if campus == "open" else "")
    loss = "\n".join(f"    {rule}" for rule in _loss_rules(plan.robots))
    members = f"{{ {robots}, {PEER_RELAY_IP} }}" if plan.peer_relay else robots
    relay = (f"    ip saddr {robots} ip daddr {PEER_RELAY_IP} udp dport {PEER_RELAY_PORT} accept\n"
             f"    ip saddr {PEER_RELAY_IP} udp sport {PEER_RELAY_PORT} ip daddr {robots} accept\n"
             if plan.peer_relay else "")
    library = plan.library_robot
    stun_from = members
    if library is not None:
        # the library robot's STUN reaches only the library's DERP: it homes there. Everyone
        # reaches the library's DERP over TLS (to talk to robots that home there).
        senders = [r.underlay_subnet for r in plan.robots if r is not library]
        senders += [PEER_RELAY_IP] if plan.peer_relay else []
        stun_from = f"{{ {', '.join(senders)} }}"
        relay += (f"    ip saddr {robots} ip daddr {DERP_REGION_IP} tcp dport 443 accept\n"
                  f"    ip saddr {DERP_REGION_IP} tcp sport 443 ip daddr {robots} accept\n"
                  f"    ip saddr {library.underlay_ip} ip daddr {DERP_REGION_IP} udp dport 3478 "
                  "accept\n"
                  f"    ip saddr {DERP_REGION_IP} udp sport 3478 ip daddr {library.underlay_ip} "
                  "accept\n")
    return f"""table inet overlay_lab
delete table inet overlay_lab
table inet overlay_lab {{
  chain underlay_loss {{
{loss}
  }}
  chain campus {{
{open_rules}  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    jump underlay_loss
    ip saddr {members} ip daddr {SERVER_IP} tcp dport 443 accept
    ip saddr {SERVER_IP} tcp sport 443 ip daddr {members} accept
    ip saddr {stun_from} ip daddr {SERVER_IP} udp dport 3478 accept
    ip saddr {SERVER_IP} udp sport 3478 ip daddr {stun_from} accept
{relay}    jump campus
{_underlay_test_rules(plan, stateless=True)}  }}
  chain input {{
    type filter hook input priority filter; policy drop;
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    jump underlay_loss
  }}
}}
"""


def campus_chain_rules(campus: str) -> str:
    """nft commands that switch a running tailscale lab's campus (only the campus chain)."""
    if campus not in CAMPUS_MODES:
        raise InputError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")
    rules = "flush chain inet overlay_lab campus\n"
    if campus == "open":
        rules += ("add rule inet overlay_lab campus ip saddr 198.18.0.0/16 ip daddr 198.18.0.0/16 "
                  "meta l4proto udp accept\n")
    return rules


def wireguard_ruleset(plan: LabPlan) -> str:
    """The router's nftables ruleset: only WireGuard UDP passes between robots.

    Everything else between robot subnets (ICMP, TCP, other UDP, multicast) is dropped, and the
    router accepts from robots only the relay's ports.
    """
    relay_ports = ", ".join(str(r.port) for r in plan.relay_routes)
    loss = "\n".join(f"    {rule}" for rule in _loss_rules(plan.robots))
    relay_accept = f"    udp dport {{ {relay_ports} }} accept\n" if relay_ports else ""
    tests = _underlay_test_rules(plan)
    return f"""table inet overlay_lab
delete table inet overlay_lab
table inet overlay_lab {{
  chain underlay_loss {{
{loss}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    jump underlay_loss
    udp dport {WIREGUARD_PORT} udp sport {WIREGUARD_PORT} accept
{tests}  }}
  chain input {{
    type filter hook input priority filter; policy drop;
    jump underlay_loss
{relay_accept}  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    jump underlay_loss
  }}
}}
"""


def relay_config(plan: LabPlan) -> dict[str, object]:
    """What the userspace relay needs: for each port, the two robots' WireGuard endpoints."""
    return {
        "routes": [
            {"port": route.port, "delay_ms": route.delay_ms,
             "a": [plan.robot(route.robot_a).underlay_ip, WIREGUARD_PORT],
             "b": [plan.robot(route.robot_b).underlay_ip, WIREGUARD_PORT]}
            for route in plan.relay_routes
        ]
    }
