"""The ACL policy (Headscale policy v2, Tailscale syntax) and an evaluator for it. Pure.

Identities: each robot joins with a pre-auth key carrying its team's tag (``tag:team-a``), so a
robot *is* its tag; a person is a Headscale user written ``alice@``.
Rules:
- robots of a team reach the robots of their team, and nothing else;
- a person reaches the robots of each team listed for them, and those robots reach the person
  back: DDS discovery and data start from both sides, so one-way rules would break ROS;
- a peer relay (``relays`` in the inventory) gets a grant with the app capability
  ``tailscale.com/cap/relay`` from the teams and people it serves: it may relay their WireGuard
  UDP, and gives nobody IP access to anything.
The ``tests`` block states the intended allow and deny pairs. It is *not* part of the policy the
server gets: headscale 0.29.2 runs the tests against the nodes that exist, and rejects the whole
policy while a tag has no node yet ("source tag:x resolved to no IP addresses"), which is always
the case before the first robot joins. So ``render_policy`` leaves it out, ``render_policy_tests``
writes it beside the policy, and ``may_reach``/``failing_tests`` check it here, pair by pair.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from overlay_monitor.errors import InputError

from .inventory import Inventory, Relay

#: the peer-relay capability (Tailscale >= 1.86, headscale >= 0.29)
RELAY_CAPABILITY = "tailscale.com/cap/relay"
#: ports the ``tests`` entries probe: DDS discovery (7400) and a DDS user port (7411)
PROBE_PORTS = (7400, 7411)


def _people_group(team: str) -> str:
    return f"group:{team}-people"


def build_policy(inv: Inventory) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for team in inv.teams:
        members = [p.user for p in inv.people if team.name in p.teams]
        if members:
            groups[_people_group(team.name)] = members
    tag_owners = {identity.tag: [f"{inv.key_owner}@"] for identity in inv.enrolled}
    monitor = inv.monitoring
    acls: list[dict[str, Any]] = []
    for team in inv.teams:
        acls.append({"action": "accept", "src": [team.tag], "dst": [f"{team.tag}:*"]})
        group = _people_group(team.name)
        if group in groups:
            acls.append({"action": "accept", "src": [group], "dst": [f"{team.tag}:*"]})
            acls.append({"action": "accept", "src": [team.tag], "dst": [f"{group}:*"]})
    if monitor is not None:  # Prometheus scrapes each robot's exporter, and nothing else
        acls.append({"action": "accept", "src": [monitor.tag],
                     "dst": [f"{team.tag}:{inv.robot_metrics_port}" for team in inv.teams]})
    tests: list[dict[str, Any]] = []
    if monitor is not None:
        tests.append({"src": monitor.tag,
                      "accept": [f"{t.tag}:{inv.robot_metrics_port}" for t in inv.teams],
                      "deny": [f"{t.tag}:{PROBE_PORTS[0]}" for t in inv.teams]})
    for team in inv.teams:
        others = [t for t in inv.teams if t is not team]
        tests.append({"src": team.tag,
                      "accept": [f"{team.tag}:{port}" for port in PROBE_PORTS],
                      "deny": [f"{t.tag}:{PROBE_PORTS[0]}" for t in others]})
    for person in inv.people:
        reach = [t for t in inv.teams if t.name in person.teams]
        other = [t for t in inv.teams if t.name not in person.teams]
        entry: dict[str, Any] = {"src": person.user,
                                 "accept": [f"{t.tag}:{PROBE_PORTS[0]}" for t in reach]}
        if other:
            entry["deny"] = [f"{t.tag}:{PROBE_PORTS[0]}" for t in other]
        tests.append(entry)
    # Tailscale clients probe a public web page to detect captive portals: not on this fleet
    # (nothing of the fleet's should call outside the campus). headscale 0.29 serves nodeAttrs;
    # autogroups, because naming a user who has not been created yet makes headscale refuse the
    # whole policy file at start-up.
    # debug-always-stun (tailcfg.NodeAttrDebugForceBackgroundSTUN): tailscaled keeps its netcheck
    # every 20-26 s even while its links are idle (by default it stops), so a robot always knows
    # whether UDP works where it stands (the monitor's "UDP blocked" check) and a roam is seen.
    node_attrs = [{"target": ["autogroup:member", "autogroup:tagged"],
                   "attr": ["disable-captive-portal-detection", "debug-always-stun"]}]
    policy = {"groups": groups, "tagOwners": tag_owners, "acls": acls, "nodeAttrs": node_attrs,
              "tests": tests}
    if inv.relays:
        policy["grants"] = [relay_grant(inv, relay) for relay in inv.relays]
    return policy


def relay_grant(inv: Inventory, relay: Relay) -> dict[str, Any]:
    """The grant that lets ``relay`` relay for the teams and people it serves."""
    sources = [inv.team(name).tag for name in relay.teams]
    sources += [f"{name}@" for name in relay.people]
    return {"src": sources, "dst": [relay.tag], "app": {RELAY_CAPABILITY: [{}]}}


def render_policy(policy: dict[str, Any]) -> str:
    """The server's policy: HuJSON text (JSON is valid HuJSON) with a header comment, without
    the ``tests`` block (see the module text)."""
    served = {key: value for key, value in policy.items() if key != "tests"}
    return ("// Generated by overlay-server from the fleet inventory; edit the inventory.\n"
            "// Robots reach their own team; people reach the teams listed for them (and back).\n"
            "// The intended allow/deny pairs are in policy-tests.json ('overlay-server check').\n"
            + json.dumps(served, indent=2) + "\n")


def render_policy_tests(policy: dict[str, Any]) -> str:
    """The ``tests`` block on its own, in the policy's test syntax."""
    return json.dumps({"tests": policy.get("tests", [])}, indent=2) + "\n"


@dataclass(frozen=True)
class Node:
    """Who a node is, for the policy: a user (untagged node) or its tags (tagged node)."""

    user: str = ""                 # "alice@" for a person's laptop
    tags: tuple[str, ...] = ()     # ("tag:team-a",) for a robot

    def identities(self) -> set[str]:
        # a tagged node's identity is its tags only (the user who enrolled it does not count)
        return set(self.tags) if self.tags else {self.user}


def _expand(alias: str, policy: dict[str, Any]) -> set[str]:
    if alias.startswith("group:"):
        members = policy.get("groups", {}).get(alias)
        if members is None:
            raise InputError(f"policy: {alias!r} is used but not defined in groups")
        return set(members)
    return {alias}


def _split_dst(dst: str) -> tuple[str, str]:
    alias, sep, ports = dst.rpartition(":")
    if not sep or not alias:
        raise InputError(f"policy: destination {dst!r} is not ALIAS:PORTS (e.g. tag:x:*)")
    return alias, ports


def _port_matches(spec: str, port: int) -> bool:
    for part in spec.split(","):
        if part == "*":
            return True
        low, _, high = part.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            raise InputError(f"policy: port {part!r} is not *, N or N-M") from None
    return False


def _matches(alias_set: set[str], node: Node) -> bool:
    return "*" in alias_set or bool(alias_set & node.identities())


def may_reach(policy: dict[str, Any], src: Node, dst: Node, port: int) -> bool:
    """Whether ``src`` may open a connection to ``dst`` on ``port`` under ``policy``."""
    for rule in policy.get("acls", []):
        if rule.get("action") != "accept":
            continue
        sources = set().union(*(_expand(s, policy) for s in rule.get("src", [])))
        if not _matches(sources, src):
            continue
        for dst_spec in rule.get("dst", []):
            alias, ports = _split_dst(dst_spec)
            if _matches(_expand(alias, policy), dst) and _port_matches(ports, port):
                return True
    return False


def node_for(alias: str) -> Node:
    """The node a ``tests`` source or destination alias names."""
    return Node(tags=(alias,)) if alias.startswith("tag:") else Node(user=alias)


def failing_tests(policy: dict[str, Any]) -> list[str]:
    """The ``tests`` entries the policy does not satisfy, as readable lines."""
    failures = []
    for test in policy.get("tests", []):
        src = node_for(test["src"])
        for expected, key in ((True, "accept"), (False, "deny")):
            for dst_spec in test.get(key, []):
                alias, port = _split_dst(dst_spec)
                if may_reach(policy, src, node_for(alias), int(port)) is not expected:
                    failures.append(f"{test['src']} -> {dst_spec}: expected "
                                    f"{'accept' if expected else 'deny'}")
    return failures
