import ipaddress

import pytest

from overlay_lab.impairments import Impairment
from overlay_lab.rulesets import campus_rules, router_ruleset
from overlay_lab.topology import (
    PEER_RELAY_IP,
    PEER_RELAY_PORT,
    PROXY_IP,
    PROXY_PORT,
    WIREGUARD_PORT,
    detour_config,
    plan_lab,
    validate_prefix,
)
from overlay_monitor.errors import InputError


def test_plan_names_and_addresses_are_unique_and_in_the_right_ranges():
    plan = plan_lab(5, "ovl")
    overlay = ipaddress.ip_network("100.64.0.0/10")
    bench = ipaddress.ip_network("198.18.0.0/15")
    assert [r.name for r in plan.robots] == ["r1", "r2", "r3", "r4", "r5"]
    assert len({r.interface for r in plan.robots}) == 5
    assert len({r.namespace for r in plan.robots} | {plan.router_namespace}) == 6
    for robot in plan.robots:
        assert len(robot.interface) <= 15, robot.interface
        assert ipaddress.ip_address(robot.overlay_ip) in overlay
        assert ipaddress.ip_address(robot.underlay_ip) in bench
        assert ipaddress.ip_address(robot.router_ip) in ipaddress.ip_network(robot.underlay_subnet)


def test_plan_at_the_largest_size_keeps_interface_names_short():
    plan = plan_lab(200, "abcdefgh")
    assert max(len(r.interface) for r in plan.robots) <= 15
    assert len({r.overlay_ip for r in plan.robots}) == 200


@pytest.mark.parametrize("count", [0, 1, 201])
def test_plan_rejects_robot_count_out_of_range(count):
    with pytest.raises(InputError, match=f"robot count {count} is out of range"):
        plan_lab(count)


@pytest.mark.parametrize("prefix", ["", "Lab", "1ab", "toolongname", "a-b"])
def test_prefix_must_fit_interface_names(prefix):
    with pytest.raises(InputError, match="lab prefix"):
        validate_prefix(prefix)


def test_plan_rejects_impairment_of_unknown_robot():
    with pytest.raises(InputError, match=r"unknown robot\(s\) r9"):
        plan_lab(3, impairments={"r9": Impairment(delay_ms=1)})


def test_direct_pairs_use_underlay_endpoints_and_delayed_pairs_take_the_detour():
    plan = plan_lab(3, impairments={"r2": Impairment(delay_ms=20)})
    r1, r2, r3 = plan.robots
    assert plan.endpoint(r1, r3) == f"198.18.3.2:{WIREGUARD_PORT}"
    route = plan.detour("r1", "r2")
    assert route is not None and route.delay_ms == 20
    # each side talks to the detour forwarder's address on its own subnet, same port
    assert plan.endpoint(r1, r2) == f"198.18.1.1:{route.port}"
    assert plan.endpoint(r2, r1) == f"198.18.2.1:{route.port}"
    assert plan.detour("r1", "r3") is None
    config = detour_config(plan)
    assert {tuple(r["a"]) for r in config["routes"]} == {("198.18.1.2", 51820), ("198.18.2.2", 51820)}


def test_delays_of_both_robots_add_up_on_their_detour():
    plan = plan_lab(2, impairments={"r1": Impairment(delay_ms=5), "r2": Impairment(delay_ms=7)})
    assert plan.detours[0].delay_ms == 12


def test_router_ruleset_passes_only_wireguard_between_robots():
    text = router_ruleset(plan_lab(3))
    forward = text[text.index("chain forward"):text.index("chain input")]
    assert "policy drop" in forward
    accepts = [line.strip() for line in forward.splitlines() if "accept" in line]
    assert accepts == [f"udp dport {WIREGUARD_PORT} udp sport {WIREGUARD_PORT} accept"]
    assert "numgen" not in text  # no loss configured


def test_router_ruleset_drops_a_fraction_for_lossy_robots_and_opens_detour_ports():
    plan = plan_lab(3, impairments={"r2": Impairment(loss_percent=1.5, delay_ms=10)})
    text = router_ruleset(plan)
    assert "ip saddr 198.18.2.0/24 numgen random mod 10000 < 150 drop" in text
    assert "ip daddr 198.18.2.0/24 numgen random mod 10000 < 150 drop" in text
    ports = ", ".join(str(r.port) for r in plan.detours)
    assert f"udp dport {{ {ports} }} accept" in text


def test_peer_relay_lab_lets_robots_reach_the_relay_port_only():
    plan = plan_lab(3, "x", overlay="tailscale", campus="restrictive", peer_relay=True)
    assert plan.namespaces()[:3] == ["x-rt", "x-srv", "x-pr"]
    rules = router_ruleset(plan)
    assert (f"ip saddr 198.18.0.0/16 ip daddr {PEER_RELAY_IP} udp dport {PEER_RELAY_PORT} accept"
            in rules)
    assert f"ip saddr {PEER_RELAY_IP} udp sport {PEER_RELAY_PORT} ip daddr 198.18.0.0/16" in rules
    assert f"ip saddr {PEER_RELAY_IP} ip daddr 198.19.0.2 tcp dport 443 accept" in rules
    assert "ip saddr 198.18.0.0/16 ip daddr 198.19.0.2 tcp dport 443 accept" in rules
    assert "ip saddr 198.18.0.0/16 ip daddr 198.18.0.0/16" not in rules  # still no robot-robot
    assert PEER_RELAY_IP not in router_ruleset(plan_lab(3, "x", overlay="tailscale"))


def test_peer_relay_lab_needs_the_tailscale_overlay():
    with pytest.raises(InputError, match="--peer-relay needs --overlay tailscale"):
        plan_lab(3, "x", peer_relay=True)


def test_derp_region_lab_homes_the_last_robot_in_the_library():
    plan = plan_lab(3, "x", overlay="tailscale", derp_region=True)
    assert plan.library_robot.name == "r3" and "x-dl" in plan.namespaces()
    rules = router_ruleset(plan)
    # STUN at the server: every robot but the library one; at the library: only that one
    assert ("ip saddr { 198.18.1.0/24, 198.18.2.0/24 } ip daddr 198.19.0.2 udp dport 3478"
            in rules)
    assert "ip saddr 198.18.3.2 ip daddr 198.19.2.2 udp dport 3478 accept" in rules
    assert "ip saddr 198.18.0.0/16 ip daddr 198.19.2.2 tcp dport 443 accept" in rules
    with pytest.raises(InputError, match="--derp-region needs --overlay tailscale"):
        plan_lab(3, "x", derp_region=True)


def test_a_derp_region_lab_can_put_half_its_robots_in_the_library():
    plan = plan_lab(4, "x", overlay="tailscale", derp_region=True, library_robots=2)
    assert [r.name for r in plan.library_robots] == ["r3", "r4"]
    rules = router_ruleset(plan)
    assert ("ip saddr { 198.18.1.0/24, 198.18.2.0/24 } ip daddr 198.19.0.2 udp dport 3478"
            in rules)
    assert ("ip saddr { 198.18.3.2, 198.18.4.2 } ip daddr 198.19.2.2 udp dport 3478 accept"
            in rules)
    with pytest.raises(InputError, match="library robots 4 is out of range"):
        plan_lab(4, "x", overlay="tailscale", derp_region=True, library_robots=4)


def test_machine_lab_adds_a_controller_that_reaches_every_host():
    from overlay_lab.topology import CONTROLLER_IP

    plan = plan_lab(3, "x", overlay="machines", peer_relay=True)
    assert plan.traits.provisioned and plan.traits.has_server
    assert "x-ctl" in plan.namespaces()
    rules = router_ruleset(plan)
    assert f"ip saddr {CONTROLLER_IP} accept" in rules and f"ip daddr {CONTROLLER_IP} accept" in rules
    assert CONTROLLER_IP not in router_ruleset(plan_lab(3, "x", overlay="tailscale"))
    assert "x-ctl" not in plan_lab(3, "x", overlay="tailscale").namespaces()


def test_the_proxy_campus_lets_robots_reach_only_the_proxy_and_the_proxy_the_server():
    plan = plan_lab(3, "x", overlay="tailscale", campus="proxy")
    assert "x-px" in plan.namespaces() and plan.has_proxy
    rules = router_ruleset(plan)
    assert f"ip saddr 198.18.0.0/16 ip daddr {PROXY_IP} tcp dport {PROXY_PORT} accept" in rules
    assert f"ip saddr {PROXY_IP} ip daddr 198.19.0.2 tcp dport 443 accept" in rules
    assert "ip saddr 198.18.0.0/16 ip daddr 198.19.0.2" not in rules  # no direct HTTPS
    assert "udp" not in "".join(campus_rules(plan, "proxy"))  # no UDP at all
    # the same lab switched to another campus lets robots reach the server again
    assert "ip saddr 198.18.0.0/16 ip daddr 198.19.0.2 tcp dport 443 accept" in campus_rules(
        plan, "tcp443")


def test_a_lab_without_a_proxy_host_has_no_proxy_campus():
    with pytest.raises(InputError, match="no web proxy host.*--campus proxy"):
        campus_rules(plan_lab(3, "x", overlay="tailscale"), "proxy")
    with pytest.raises(InputError, match="--campus proxy needs --overlay tailscale"):
        plan_lab(3, "x", overlay="wireguard", campus="proxy")
    with pytest.raises(InputError, match="without --derp-region"):
        plan_lab(3, "x", overlay="tailscale", campus="proxy", derp_region=True)
