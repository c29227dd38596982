"""Plan a lab: names, addresses, ports and rules, computed without touching the machine.

Layout (N robots, prefix P):
- router namespace ``P-rt``; robot i in namespace ``P-r<i>``, joined to the router by a veth
  pair (``P-v<i>`` on the router, ``eth0`` in the robot) on underlay subnet 198.18.<i>.0/24
  (router .1, robot .2). 198.18.0.0/15 is reserved for benchmarking (RFC 2544).
- robot i has a WireGuard interface ``P`` + ``wg<i>`` (names must be unique on the machine:
  wireguard-go's control sockets in /var/run/wireguard are shared by every namespace), overlay
  address 100.64.0.<i>/32 (Tailscale's CGNAT range), MTU 1280 like tailscale0, full mesh.
- the router forwards only WireGuard UDP between robots; nothing reaches the host's namespace.
- a pair with a delayed robot takes a detour through the userspace delay forwarder
  (``detour.py``) in the router namespace (this kernel has no netem).

With ``Overlay.TAILSCALE`` the robots run the real tailscaled instead (interface tailscale0,
addresses from Headscale), and a server namespace ``P-srv`` on 198.19.0.0/24 runs the real
headscale with its embedded DERP and STUN; ``campus`` says what the router lets through
(``rulesets.py`` writes the router's nftables rules).

What differs between overlays is data in ``OVERLAY_TRAITS``, never a string comparison.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from itertools import combinations

from overlay_bringup.join.plan import OVERLAY_RANGE
from overlay_monitor.errors import InputError

from .impairments import Impairment

WIREGUARD_PORT = 51820
DETOUR_BASE_PORT = 40000
OVERLAY_MTU = 1280
OVERLAY_NETWORK = OVERLAY_RANGE  # the one place it is written: overlay_bringup.join.plan
MAX_ROBOTS = 200
DEFAULT_PREFIX = "ovl"
#: open: UDP between robots passes (direct paths); restrictive: only the server's HTTPS and
#: STUN (every pair DERP-relayed); tcp443: no UDP at all, only TCP 443 (DERP over HTTPS);
#: proxy: robots reach nothing but a web proxy (HTTP CONNECT), which reaches the server's 443
CAMPUS_MODES = ("open", "restrictive", "tcp443", "proxy")
#: the campus whose robots reach only the web proxy (the lab adds the proxy host for it)
PROXY_CAMPUS = "proxy"
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
#: ``--campus proxy``: the campus web proxy (the real tinyproxy), namespace ``P-px``; robots
#: reach only its port, and only it reaches the server's HTTPS port
PROXY_ROUTER_IP = "198.19.3.1"
PROXY_IP = "198.19.3.2"
PROXY_PORT = 3128
PROXY_URL = f"http://{PROXY_IP}:{PROXY_PORT}"
#: a machine lab's controller (it runs ansible-playbook): the lab's admin network
CONTROLLER_ROUTER_IP = "198.19.9.1"
CONTROLLER_IP = "198.19.9.2"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


class Overlay(str, Enum):
    """The lab's overlays: ``wireguard`` (a wireguard-go mesh, fast, no Go needed) and
    ``tailscale`` (the real headscale and a tailscaled per robot)."""

    WIREGUARD = "wireguard"
    TAILSCALE = "tailscale"
    #: the real headscale and tailscale on systemd-nspawn machines, provisioned by Ansible
    MACHINES = "machines"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class OverlayTraits:
    """What a lab plan needs to know of an overlay."""

    #: a server namespace runs headscale (+ DERP, STUN) and robots join it
    has_server: bool
    #: the overlay finds its own paths (direct, DERP, peer relay): no detours, no delay
    finds_own_paths: bool
    #: the lab adds each robot's guard route itself (tailscale robots get it from overlay-join)
    lab_guard_route: bool
    #: the robot's overlay interface: a name unique on the machine, or tailscaled's own
    interface: str
    #: the hosts are whole machines provisioned over SSH from a controller namespace
    provisioned: bool = False

    def interface_of(self, prefix: str, index: int) -> str:
        return self.interface.format(prefix=prefix, index=index)


OVERLAY_TRAITS: dict[Overlay, OverlayTraits] = {
    Overlay.WIREGUARD: OverlayTraits(has_server=False, finds_own_paths=False,
                                     lab_guard_route=True, interface="{prefix}wg{index}"),
    Overlay.TAILSCALE: OverlayTraits(has_server=True, finds_own_paths=True,
                                     lab_guard_route=False, interface=TAILSCALE_INTERFACE),
    Overlay.MACHINES: OverlayTraits(has_server=True, finds_own_paths=True,
                                    lab_guard_route=False, interface=TAILSCALE_INTERFACE,
                                    provisioned=True),
}
OVERLAYS = tuple(o.value for o in Overlay)


def parse_overlay(name: str) -> Overlay:
    try:
        return Overlay(name)
    except ValueError:
        raise InputError(f"overlay {name!r} is not one of {', '.join(OVERLAYS)}") from None


@dataclass(frozen=True)
class RobotPlan:
    index: int
    name: str
    namespace: str
    interface: str
    overlay_ip: str
    underlay_ip: str
    router_ip: str
    router_veth: str
    impairment: Impairment = field(default_factory=Impairment)

    @property
    def underlay_subnet(self) -> str:
        return f"198.18.{self.index}.0/24"


@dataclass(frozen=True)
class Detour:
    """One delayed pair of a WireGuard lab: the delay forwarder listens on ``port`` and
    forwards between the two robots after ``delay_ms``."""

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
    detours: tuple[Detour, ...]
    #: also let ICMP echo and the link-test/iperf3 ports cross the underlay (to compare paths)
    underlay_tests: bool = False
    overlay: Overlay = Overlay.WIREGUARD
    campus: str = "restrictive"
    #: tailscale overlay: a peer relay host the campus lets robots reach on one UDP port
    peer_relay: bool = False
    #: tailscale overlay: a second DERP region (derper) where the last robot homes
    derp_region: bool = False
    #: with ``derp_region``: how many robots (the last ones) stand in the library
    library_count: int = 1

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
    def has_proxy(self) -> bool:
        """The campus web proxy host exists (``--campus proxy``)."""
        return self.campus == PROXY_CAMPUS

    @property
    def proxy_namespace(self) -> str:
        return proxy_namespace(self.prefix)

    @property
    def proxy_veth(self) -> str:
        return f"{self.prefix}-vx"

    @property
    def derp_namespace(self) -> str:
        return f"{self.prefix}-dl"

    @property
    def derp_veth(self) -> str:
        return f"{self.prefix}-vd"

    @property
    def library_robots(self) -> tuple[RobotPlan, ...]:
        """The robots in the library building (with ``derp_region``): the last
        ``library_count``; they reach STUN only there, so they home in its DERP region."""
        return self.robots[-self.library_count:] if self.derp_region else ()

    @property
    def library_robot(self) -> RobotPlan | None:
        """The last robot in the library building (with ``derp_region``)."""
        return self.library_robots[-1] if self.library_robots else None

    @property
    def server_veth(self) -> str:
        return f"{self.prefix}-vs"

    @property
    def router_namespace(self) -> str:
        return f"{self.prefix}-rt"

    @property
    def controller_namespace(self) -> str:
        return f"{self.prefix}-ctl"

    @property
    def controller_veth(self) -> str:
        return f"{self.prefix}-vctl"

    def robot(self, name: str) -> RobotPlan:
        for robot in self.robots:
            if name in (robot.name, robot.namespace):
                return robot
        known = ", ".join(r.name for r in self.robots)
        raise InputError(f"no robot {name!r} in lab {self.prefix!r} (robots: {known})")

    @property
    def traits(self) -> OverlayTraits:
        return OVERLAY_TRAITS[self.overlay]

    def detour(self, a: str, b: str) -> Detour | None:
        for route in self.detours:
            if {route.robot_a, route.robot_b} == {a, b}:
                return route
        return None

    def endpoint(self, src: RobotPlan, dst: RobotPlan) -> str:
        """The underlay endpoint ``src`` uses to reach ``dst``'s WireGuard port."""
        route = self.detour(src.name, dst.name)
        if route is None:
            return f"{dst.underlay_ip}:{WIREGUARD_PORT}"
        return f"{src.router_ip}:{route.port}"

    def namespaces(self) -> list[str]:
        server = [self.server_namespace] if self.traits.has_server else []
        relay = [self.peer_relay_namespace] if self.peer_relay else []
        derp = [self.derp_namespace] if self.derp_region else []
        proxy = [self.proxy_namespace] if self.has_proxy else []
        controller = [self.controller_namespace] if self.traits.provisioned else []
        return ([self.router_namespace, *server, *relay, *derp, *proxy, *controller]
                + [r.namespace for r in self.robots])


def peer_relay_namespace(prefix: str) -> str:
    """The namespace of a lab's peer relay host (``--peer-relay``)."""
    return f"{prefix}-pr"


def proxy_namespace(prefix: str) -> str:
    """The namespace of a lab's campus web proxy (``--campus proxy``)."""
    return f"{prefix}-px"


def validate_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise InputError(f"lab prefix {prefix!r} is not 1-8 lowercase letters and digits "
                         "starting with a letter (it becomes part of interface names, max 15 chars)")
    return prefix


def robot_plan(prefix: str, overlay: Overlay, index: int,
               impairment: Impairment | None = None) -> RobotPlan:
    """Robot ``r<index>`` of a lab: its names and addresses."""
    return RobotPlan(index=index, name=f"r{index}", namespace=f"{prefix}-r{index}",
                     interface=OVERLAY_TRAITS[overlay].interface_of(prefix, index),
                     overlay_ip=f"100.64.0.{index}", underlay_ip=f"198.18.{index}.2",
                     router_ip=f"198.18.{index}.1", router_veth=f"{prefix}-v{index}",
                     impairment=impairment or Impairment())


def plan_lab(robot_count: int, prefix: str = DEFAULT_PREFIX,
             impairments: dict[str, Impairment] | None = None,
             detours: dict[frozenset[str], float] | None = None,
             underlay_tests: bool = False, overlay: str | Overlay = Overlay.WIREGUARD,
             campus: str = "restrictive", peer_relay: bool = False,
             derp_region: bool = False, library_robots: int = 1) -> LabPlan:
    """Compute every name, address and detour of a lab of ``robot_count`` robots."""
    validate_prefix(prefix)
    kind = parse_overlay(str(overlay))
    traits = OVERLAY_TRAITS[kind]
    if campus not in CAMPUS_MODES:
        raise InputError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")
    if peer_relay and not traits.has_server:
        raise InputError("--peer-relay needs --overlay tailscale or machines (peer relays are "
                         "Tailscale's)")
    if derp_region and not traits.has_server:
        raise InputError("--derp-region needs --overlay tailscale or machines (DERP is "
                         "Tailscale's relay)")
    if campus == PROXY_CAMPUS and (not traits.has_server or traits.provisioned or derp_region):
        raise InputError("--campus proxy needs --overlay tailscale, without --derp-region (the "
                         "proxy campus has one server behind one web proxy)")
    if not 2 <= robot_count <= MAX_ROBOTS:
        raise InputError(f"robot count {robot_count} is out of range (expected 2..{MAX_ROBOTS})")
    if derp_region and not 1 <= library_robots < robot_count:
        raise InputError(f"library robots {library_robots} is out of range (expected "
                         f"1..{robot_count - 1}: at least one robot stays on the campus)")
    impairments = dict(impairments or {})
    names = [f"r{i}" for i in range(1, robot_count + 1)]
    unknown = sorted(set(impairments) - set(names))
    if unknown:
        raise InputError(f"impairment for unknown robot(s) {', '.join(unknown)} "
                         f"(this lab has {names[0]}..{names[-1]})")
    detours = dict(detours or {})
    if traits.finds_own_paths:
        delayed = sorted(n for n, i in impairments.items() if i.delay_ms)
        if detours or delayed:
            raise InputError(f"the {kind} overlay finds its own paths (direct, DERP): "
                             f"--detour and delay= are for --overlay wireguard (got "
                             f"{', '.join(delayed) or 'a detour'}); use loss= and rate=")
    unknown = sorted({r for pair in detours for r in pair} - set(names))
    if unknown:
        raise InputError(f"detour for unknown robot(s) {', '.join(unknown)} "
                         f"(this lab has {names[0]}..{names[-1]})")
    robots = tuple(robot_plan(prefix, kind, i, impairments.get(name, Impairment()))
                   for i, name in enumerate(names, start=1))
    routes: list[Detour] = []
    for a, b in combinations(robots, 2):
        forced = frozenset((a.name, b.name)) in detours
        delay = a.impairment.delay_ms + b.impairment.delay_ms + detours.get(
            frozenset((a.name, b.name)), 0.0)
        if delay > 0 or forced:
            routes.append(Detour(port=DETOUR_BASE_PORT + len(routes), robot_a=a.name,
                                 robot_b=b.name, delay_ms=delay))
    return LabPlan(prefix=prefix, robots=robots, detours=tuple(routes),
                   underlay_tests=underlay_tests, overlay=kind, campus=campus,
                   peer_relay=peer_relay, derp_region=derp_region,
                   library_count=library_robots if derp_region else 1)


def detour_config(plan: LabPlan) -> dict[str, object]:
    """What the delay forwarder needs: for each port, the two robots' WireGuard endpoints."""
    return {
        "routes": [
            {"port": route.port, "delay_ms": route.delay_ms,
             "a": [plan.robot(route.robot_a).underlay_ip, WIREGUARD_PORT],
             "b": [plan.robot(route.robot_b).underlay_ip, WIREGUARD_PORT]}
            for route in plan.detours
        ]
    }
