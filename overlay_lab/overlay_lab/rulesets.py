"""The lab router's nftables rulesets, computed from a plan without touching the machine.

- ``wireguard_ruleset``: only WireGuard UDP passes between robots (plus the detour ports);
- ``campus_ruleset``: a tailscale lab's campus network: robots reach the server's HTTPS and
  STUN; ``open`` also lets UDP between robots through (direct paths), ``restrictive`` does not
  (every pair DERP-relayed); a peer relay host is reachable on its UDP port only;
- ``campus_chain_rules``: switch a running lab's campus (only its campus chain changes).
"""
from __future__ import annotations

from overlay_monitor.errors import InputError

from .topology import (
    CAMPUS_MODES,
    CONTROLLER_IP,
    DERP_REGION_IP,
    OVERLAY_TRAITS,
    PEER_RELAY_IP,
    PEER_RELAY_PORT,
    PROXY_CAMPUS,
    PROXY_IP,
    PROXY_PORT,
    SERVER_IP,
    UNDERLAY_DDS_PORTS,
    UNDERLAY_TEST_PORTS,
    WIREGUARD_PORT,
    LabPlan,
    RobotPlan,
)


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
    """The router's nftables ruleset: a campus when the overlay has a server to reach, else
    the WireGuard mesh's."""
    if OVERLAY_TRAITS[plan.overlay].has_server:
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


ROBOT_SUBNETS = "198.18.0.0/16"


def _check_campus(campus: str) -> None:
    if campus not in CAMPUS_MODES:
        raise InputError(f"campus {campus!r} is not one of {', '.join(CAMPUS_MODES)}")


def _members(plan: LabPlan) -> str:
    return f"{{ {ROBOT_SUBNETS}, {PEER_RELAY_IP} }}" if plan.peer_relay else ROBOT_SUBNETS


def _tcp_both_ways(source: str, target: str, port: int) -> list[str]:
    return [f"ip saddr {source} ip daddr {target} tcp dport {port} accept",
            f"ip saddr {target} tcp sport {port} ip daddr {source} accept"]


def campus_rules(plan: LabPlan, campus: str) -> list[str]:
    """The campus chain: what the campus lets the robots reach. Every campus but ``proxy``
    lets them reach the server's TCP 443 (control plane and DERP). ``restrictive`` (the seed
    study's campus): also STUN to the server (and the peer relay's port, the library robot's
    STUN to its DERP); ``open``: also UDP between robots, so pairs go direct; ``tcp443``: no
    UDP at all (DERP over HTTPS is the only path); ``proxy``: nothing but the web proxy's port
    (the proxy host reaches the server, in the forward chain)."""
    _check_campus(campus)
    if campus == PROXY_CAMPUS:
        if not plan.has_proxy:
            raise InputError("this lab has no web proxy host: build it with "
                             "'overlay-lab up --overlay tailscale --campus proxy'")
        return _tcp_both_ways(ROBOT_SUBNETS, PROXY_IP, PROXY_PORT)
    rules = _tcp_both_ways(ROBOT_SUBNETS, SERVER_IP, 443)
    if campus == "tcp443":
        return rules
    robots, library = ROBOT_SUBNETS, plan.library_robots
    stun_from = _members(plan)
    library_rules = []
    if library:
        # the library robots' STUN reaches only the library's DERP: they home there
        senders = [r.underlay_subnet for r in plan.robots if r not in library]
        senders += [PEER_RELAY_IP] if plan.peer_relay else []
        stun_from = f"{{ {', '.join(senders)} }}"
        readers = (library[0].underlay_ip if len(library) == 1
                   else f"{{ {', '.join(r.underlay_ip for r in library)} }}")
        library_rules = [f"ip saddr {readers} ip daddr {DERP_REGION_IP} udp dport 3478 accept",
                         f"ip saddr {DERP_REGION_IP} udp sport 3478 ip daddr {readers} accept"]
    rules += [f"ip saddr {stun_from} ip daddr {SERVER_IP} udp dport 3478 accept",
              f"ip saddr {SERVER_IP} udp sport 3478 ip daddr {stun_from} accept", *library_rules]
    if plan.peer_relay:
        rules += [f"ip saddr {robots} ip daddr {PEER_RELAY_IP} udp dport {PEER_RELAY_PORT} accept",
                  f"ip saddr {PEER_RELAY_IP} udp sport {PEER_RELAY_PORT} ip daddr {robots} accept"]
    if campus == "open":
        rules.append(f"ip saddr {robots} ip daddr {robots} meta l4proto udp accept")
    return rules


def _controller_rules(plan: LabPlan) -> str:
    """A machine lab's controller reaches every host (SSH, the server's REST API) and back:
    the lab's admin network, outside the campus rules."""
    if not plan.traits.provisioned:
        return ""
    return (f"    ip saddr {CONTROLLER_IP} accept\n"
            f"    ip daddr {CONTROLLER_IP} accept\n")


def campus_ruleset(plan: LabPlan, campus: str) -> str:
    """The router of a tailscale lab: a campus network.

    Always (forward chain): the peer relay and the web proxy hosts reach the server's HTTPS
    port; with a second DERP region, robots reach its HTTPS too. The campus chain
    (``campus_rules``) holds what robots may reach, so switching a running lab's campus
    (``campus_chain_rules``) can block all UDP, or everything but the proxy. Rules match
    addresses and ports both ways, without connection tracking, so a switch takes effect on
    flows that already exist.
    """
    _check_campus(campus)
    loss = "\n".join(f"    {rule}" for rule in _loss_rules(plan.robots))
    hosts = [PEER_RELAY_IP] * plan.peer_relay + [PROXY_IP] * plan.has_proxy
    to_server = "".join(f"    {rule}\n" for host in hosts
                        for rule in _tcp_both_ways(host, SERVER_IP, 443))
    derp = ""
    if plan.library_robot is not None:  # everyone reaches the library's DERP over TLS
        derp = (f"    ip saddr {ROBOT_SUBNETS} ip daddr {DERP_REGION_IP} tcp dport 443 accept\n"
                f"    ip saddr {DERP_REGION_IP} tcp sport 443 ip daddr {ROBOT_SUBNETS} accept\n")
    chain = "".join(f"    {rule}\n" for rule in campus_rules(plan, campus))
    return f"""table inet overlay_lab
delete table inet overlay_lab
table inet overlay_lab {{
  chain underlay_loss {{
{loss}
  }}
  chain campus {{
{chain}  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    jump underlay_loss
{to_server}{derp}{_controller_rules(plan)}    jump campus
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


def campus_chain_rules(plan: LabPlan, campus: str) -> str:
    """nft commands that switch a running tailscale lab's campus (only the campus chain)."""
    return "flush chain inet overlay_lab campus\n" + "".join(
        f"add rule inet overlay_lab campus {rule}\n" for rule in campus_rules(plan, campus))


def wireguard_ruleset(plan: LabPlan) -> str:
    """The router's nftables ruleset: only WireGuard UDP passes between robots.

    Everything else between robot subnets (ICMP, TCP, other UDP, multicast) is dropped, and the
    router accepts from robots only the detour ports.
    """
    detour_ports = ", ".join(str(r.port) for r in plan.detours)
    loss = "\n".join(f"    {rule}" for rule in _loss_rules(plan.robots))
    detour_accept = f"    udp dport {{ {detour_ports} }} accept\n" if detour_ports else ""
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
{detour_accept}  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    jump underlay_loss
  }}
}}
"""
