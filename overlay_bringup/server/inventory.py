"""The fleet inventory: one YAML file describing server, overlay, relays, teams, people, keys.

Validation reports every problem at once, each with its path and what was expected, e.g.
``teams[1].robots[3]: "robot_4!" is not a valid hostname (expected lowercase letters, digits
and '-', 1-63 characters)``. Structure is checked by JSON Schema (jsonschema's iter_errors);
cross-field rules (unique names, references, address ranges) by ``_semantic_errors``.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from overlay_monitor.errors import InputError
from overlay_monitor.files import read_input
from overlay_monitor.health import RELAY_TAG_PREFIX

from ..discovery.model import BridgePolicy
from ..discovery.modes import MODE_NAMES

HOSTNAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
FQDN = r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
DURATION = r"^[1-9][0-9]*(h|d|w)$"
TAILSCALE_V4 = ipaddress.ip_network("100.64.0.0/10")
TAILSCALE_V6 = ipaddress.ip_network("fd7a:115c:a1e0::/48")


def _str(pattern: str, expected: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "x-expected": expected}


_HOST = _str(HOSTNAME, "a valid hostname (expected lowercase letters, digits and '-', "
                       "1-63 characters, not starting or ending with '-')")
_FQDN = _str(FQDN, "a valid domain name (expected e.g. headscale.lab.example.edu, lowercase)")
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_REGION_ID = {"type": "integer", "minimum": 900, "maximum": 999,
              "x-expected": "a region id from 900 to 999 (ids below 900 are Tailscale's)"}

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1},
          "x-expected": "a list of regular expressions over full ROS names, e.g. /camera/.*"}
_CROSSING = {"type": "object", "additionalProperties": False,
             "properties": {"topics": _NAMES, "services": _NAMES, "actions": _NAMES}}
#: zenoh-bridge: what a team's bridges carry across the overlay
_BRIDGE = {"type": "object", "additionalProperties": False, "properties": {
    "allow": _CROSSING, "deny": _CROSSING,
    "max_rate_hz": {"type": "object", "additionalProperties": {
        "type": "number", "exclusiveMinimum": 0, "maximum": 10000}},
    "namespace": {"enum": ["robot", "none"]},
    "router": {"type": "string"}}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["server", "overlay", "teams"],
    "properties": {
        "server": {
            "type": "object", "additionalProperties": False, "required": ["fqdn"],
            "properties": {
                "fqdn": _FQDN,
                "addresses": {"type": "array", "items": {"type": "string"}},
                "https_port": _PORT,
                "stun_port": _PORT,
                "metrics_port": _PORT,
                "grpc_port": _PORT,
                "policy_mode": {"enum": ["file", "database"]},
            },
        },
        "overlay": {
            "type": "object", "additionalProperties": False, "required": ["base_domain"],
            "properties": {
                "prefix_v4": {"type": "string"},
                "prefix_v6": {"type": "string"},
                "allocation": {"enum": ["sequential", "random"]},
                "base_domain": _FQDN,
            },
        },
        "derp": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "region_id": _REGION_ID,
                "region_code": _HOST,
                "region_name": {"type": "string", "minLength": 1},
                "extra_regions": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["region_id", "code", "host"],
                    "properties": {"region_id": _REGION_ID, "code": _HOST,
                                   "name": {"type": "string"}, "host": _FQDN,
                                   "https_port": _PORT, "stun_port": _PORT}}},
            },
        },
        "teams": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "robots"],
            "properties": {
                "name": _HOST,
                "robots": {"type": "array", "minItems": 1, "items": _HOST},
                "ros_domain_id": {"type": "integer", "minimum": 0, "maximum": 232,
                                  "x-expected": "a ROS domain id from 0 to 232"},
                "discovery": {"enum": list(MODE_NAMES)},
                "bridge": _BRIDGE,
            }}},
        "people": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "teams"],
            "properties": {"name": _HOST, "teams": {"type": "array", "items": {"type": "string"}}}}},
        "monitoring": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "tag": _HOST,
                "metrics_port": _PORT,
                "derp_alert_after": _str(r"^[1-9][0-9]*(s|m|h)$", "a duration such as 30s or 10m"),
                "offline_alert_after": _str(r"^[1-9][0-9]*(s|m|h)$",
                                            "a duration such as 30s or 2m"),
                "rtt_alert_ms": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "relays": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "port"],
            "properties": {
                "name": _HOST,
                "port": {"type": "integer", "minimum": 1024, "maximum": 65535,
                         "x-expected": "a UDP port from 1024 to 65535"},
                "teams": {"type": "array", "items": {"type": "string"}},
                "people": {"type": "array", "items": {"type": "string"}},
            }}},
        "keys": {
            "type": "object", "additionalProperties": False,
            "properties": {"owner": _HOST, "reusable": {"type": "boolean"},
                           "ephemeral": {"type": "boolean"},
                           "expiry": _str(DURATION, "a duration such as 12h, 90d or 4w")},
        },
    },
}


@dataclass(frozen=True)
class Team:
    name: str
    robots: tuple[str, ...]
    ros_domain_id: int
    discovery: str
    #: zenoh-bridge: what crosses ("{robot}" in the namespace is each robot's name)
    bridge: BridgePolicy = field(default_factory=BridgePolicy)

    @property
    def tag(self) -> str:
        return f"tag:{self.name}"


@dataclass(frozen=True)
class Person:
    name: str
    teams: tuple[str, ...]

    @property
    def user(self) -> str:
        """The policy's name for this Headscale user (policy v2: ``name@``)."""
        return f"{self.name}@"


def relay_identity_name(relay: str) -> str:
    """The enrolment identity (bundle folder, tag name) of peer relay ``relay``: its tag starts
    with the prefix the monitor looks for (``tag:relay-``)."""
    return RELAY_TAG_PREFIX.removeprefix("tag:") + relay


@dataclass(frozen=True)
class Relay:
    """A peer relay: a member that relays WireGuard UDP on ``port`` for the teams and people it
    serves (Tailscale >= 1.86, ``tailscale set --relay-server-port``)."""

    name: str
    port: int
    teams: tuple[str, ...]
    people: tuple[str, ...]

    @property
    def identity(self) -> Team:
        """The relay's enrolment identity: a pseudo-team with its own tag and key."""
        return Team(relay_identity_name(self.name), (self.name,), 0, "fastdds-peers")

    @property
    def tag(self) -> str:
        return self.identity.tag


@dataclass(frozen=True)
class ExtraRegion:
    region_id: int
    code: str
    name: str
    host: str
    https_port: int
    stun_port: int


@dataclass(frozen=True)
class Inventory:
    fqdn: str
    addresses: tuple[str, ...]
    https_port: int
    stun_port: int
    metrics_port: int
    grpc_port: int
    policy_mode: str
    prefix_v4: str
    prefix_v6: str
    allocation: str
    base_domain: str
    region_id: int
    region_code: str
    region_name: str
    extra_regions: tuple[ExtraRegion, ...]
    teams: tuple[Team, ...]
    people: tuple[Person, ...]
    key_owner: str
    keys_reusable: bool
    keys_ephemeral: bool
    key_expiry: str
    #: the Prometheus host joins with this tag and may scrape every robot's exporter
    monitoring_tag: str = ""
    robot_metrics_port: int = 9101
    derp_alert_after: str = "10m"
    offline_alert_after: str = "2m"
    rtt_alert_ms: float = 500.0
    relays: tuple[Relay, ...] = ()

    @property
    def enrolled(self) -> tuple[Team, ...]:
        """Every identity that gets a bundle and a key: the teams, the monitoring host, relays."""
        monitor = (self.monitoring,) if self.monitoring is not None else ()
        return self.teams + monitor + tuple(r.identity for r in self.relays)

    def relays_for(self, team: str) -> tuple[Relay, ...]:
        """The peer relays that serve ``team`` (its bundle's README names them)."""
        return tuple(r for r in self.relays if team in r.teams)

    @property
    def monitoring(self) -> Team | None:
        """The Prometheus host's identity as a pseudo-team without robots (its own key)."""
        if not self.monitoring_tag:
            return None
        return Team(self.monitoring_tag, (), 0, "fastdds-peers")

    @property
    def server_url(self) -> str:
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.fqdn}{port}"

    def team(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise InputError(f"no team {name!r} in the inventory")


def _path(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _message(error: ValidationError) -> str:
    where = _path(error)
    expected = error.schema.get("x-expected") if isinstance(error.schema, dict) else None
    if error.validator in ("pattern", "minimum", "maximum") and expected:
        shown = f'"{error.instance}"' if isinstance(error.instance, str) else repr(error.instance)
        return f"{where}: {shown} is not {expected}"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (check the spelling against config/fleet.example.yaml)"
    return f"{where}: {error.message}"


def _network(text: str, where: str, within: ipaddress.IPv4Network | ipaddress.IPv6Network,
             errors: list[str]) -> None:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        errors.append(f"{where}: {text!r} is not an IP prefix (expected e.g. {within})")
        return
    if net.version != within.version or not net.subnet_of(within):  # type: ignore[arg-type]
        errors.append(f"{where}: {text} is not inside {within} (the only range Tailscale "
                      "clients accept)")


def _semantic_errors(raw: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    overlay = raw.get("overlay") or {}
    _network(overlay.get("prefix_v4", "100.64.0.0/10"), "overlay.prefix_v4", TAILSCALE_V4, errors)
    _network(overlay.get("prefix_v6", "fd7a:115c:a1e0::/48"), "overlay.prefix_v6", TAILSCALE_V6,
             errors)
    server = raw.get("server") or {}
    fqdn, base = server.get("fqdn"), overlay.get("base_domain")
    if isinstance(fqdn, str) and isinstance(base, str) and (
            fqdn == base or fqdn.endswith("." + base)):
        errors.append(f"overlay.base_domain: {base!r} must differ from the server's name and "
                      f"not contain it (server.fqdn is {fqdn!r}); Headscale refuses this")
    for i, address in enumerate(server.get("addresses") or []):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            errors.append(f"server.addresses[{i}]: {address!r} is not an IP address")
    ports = {k: server.get(k) for k in ("https_port", "metrics_port", "grpc_port")}
    tcp = [p for p in ports.values() if isinstance(p, int)]
    if len(tcp) != len(set(tcp)):
        errors.append(f"server: TCP ports must differ (got {ports})")
    derp = raw.get("derp") or {}
    region_ids = [derp.get("region_id", 999)] + [r.get("region_id") for r in
                                                 derp.get("extra_regions") or [] if isinstance(r, dict)]
    for i, region in enumerate(derp.get("extra_regions") or []):
        if isinstance(region, dict) and region_ids.count(region.get("region_id")) > 1:
            errors.append(f"derp.extra_regions[{i}].region_id: {region.get('region_id')} is used "
                          "twice (expected a unique region id)")
    seen_robots: dict[str, str] = {}
    team_names: list[str] = []
    domains: dict[int, str] = {}
    for i, team in enumerate(raw.get("teams") or []):
        if not isinstance(team, dict):
            continue
        name = str(team.get("name"))
        if name in team_names:
            errors.append(f"teams[{i}].name: team {name!r} is defined twice")
        team_names.append(name)
        domain = team.get("ros_domain_id")
        if isinstance(domain, int) and domain in domains:
            errors.append(f"teams[{i}].ros_domain_id: {domain} is already used by team "
                          f"{domains[domain]!r} (expected one domain per team)")
        elif isinstance(domain, int):
            domains[domain] = str(name)
        errors += _bridge_errors(f"teams[{i}].bridge", team.get("bridge"))
        for j, robot in enumerate(team.get("robots") or []):
            if robot in seen_robots:
                errors.append(f"teams[{i}].robots[{j}]: robot {robot!r} is already in team "
                              f"{seen_robots[robot]!r} (a robot belongs to one team)")
            else:
                seen_robots[robot] = str(name)
    for i, person in enumerate(raw.get("people") or []):
        if not isinstance(person, dict):
            continue
        errors += _unknown_teams(f"people[{i}]", person.get("teams") or [], team_names)
        if person.get("name") in seen_robots:
            errors.append(f"people[{i}].name: {person.get('name')!r} is also a robot's name")
    errors += _relay_errors(raw, team_names, seen_robots)
    return errors


def _bridge_errors(where: str, bridge: Any) -> list[str]:
    """A bridge section: allow or deny (not both), patterns that compile, a router IP:PORT."""
    if not isinstance(bridge, dict):
        return []
    if "allow" in bridge and "deny" in bridge:
        return [f"{where}: give allow or deny, not both (allow: only these cross; deny: all "
                "but these cross)"]
    from ..discovery.modes import check_policy

    try:
        check_policy(bridge_policy(bridge))
    except InputError as err:
        return [f"{where}: {err}"]
    except (TypeError, AttributeError, ValueError):
        return []  # a wrong shape: the schema names it
    return []


def _unknown_teams(where: str, named: list[Any], team_names: list[str]) -> list[str]:
    """An error for each entry of ``where``.teams that names no team of the inventory."""
    return [f"{where}.teams[{j}]: no team {team!r} (teams: {', '.join(team_names)})"
            for j, team in enumerate(named) if team not in team_names]


def _relay_errors(raw: dict[str, Any], team_names: list[str],
                  robots: dict[str, str]) -> list[str]:
    errors: list[str] = []
    people = [p.get("name") for p in raw.get("people") or [] if isinstance(p, dict)]
    names: list[str] = []
    for i, relay in enumerate(raw.get("relays") or []):
        if not isinstance(relay, dict):
            continue
        name = str(relay.get("name"))
        if name in names:
            errors.append(f"relays[{i}].name: relay {name!r} is defined twice")
        names.append(name)
        if name in people:
            errors.append(f"relays[{i}].name: {name!r} is also a person's name")
        teams, served_people = relay.get("teams") or [], relay.get("people") or []
        if not teams and not served_people:
            errors.append(f"relays[{i}]: relay {name!r} serves nobody (expected teams or "
                          "people it relays for)")
        errors += _unknown_teams(f"relays[{i}]", teams, team_names)
        for j, person in enumerate(served_people):
            if person not in people:
                errors.append(f"relays[{i}].people[{j}]: no person {person!r} in people")
        if name in robots:
            errors.append(f"relays[{i}].name: {name!r} is also a robot of team "
                          f"{robots[name]!r} (a relay joins as its own member, with its own key)")
    return errors


def validation_errors(raw: Any) -> list[str]:
    """Every problem of a parsed inventory, in document order; empty when it is valid."""
    if not isinstance(raw, dict):
        return ["(top level): expected a mapping with server, overlay and teams"]
    validator = Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    messages = [_message(e) for e in errors]
    try:
        return messages + _semantic_errors(raw)
    except (AttributeError, TypeError, KeyError, ValueError):
        # a field of the wrong shape (derp: "x"): the schema has named it; the cross-field
        # checks need the right shapes and come once those are fixed
        if not messages:
            raise
        return messages


class InventoryError(InputError):
    def __init__(self, source: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} problem(s):\n" + "\n".join(
            f"  {e}" for e in errors))


def bridge_policy(raw: dict[str, Any] | None) -> BridgePolicy:
    """A team's ``bridge:`` section (already checked against the schema)."""
    raw = raw or {}
    rule = "allow" if "allow" in raw else "deny"
    names = raw.get(rule) or {}
    return BridgePolicy(rule=rule, topics=tuple(names.get("topics", ())),
                        services=tuple(names.get("services", ())),
                        actions=tuple(names.get("actions", ())),
                        max_rates=tuple((k, float(v)) for k, v in
                                        (raw.get("max_rate_hz") or {}).items()),
                        namespace="/{robot}" if raw.get("namespace", "robot") == "robot" else "",
                        router=raw.get("router", ""))


def parse_inventory(raw: Any, source: str = "inventory") -> Inventory:
    errors = validation_errors(raw)
    if errors:
        raise InventoryError(source, errors)
    server, overlay = raw["server"], raw["overlay"]
    derp, keys = raw.get("derp") or {}, raw.get("keys") or {}
    monitoring = raw.get("monitoring") or {}
    return Inventory(
        fqdn=server["fqdn"], addresses=tuple(server.get("addresses") or ()),
        https_port=server.get("https_port", 443), stun_port=server.get("stun_port", 3478),
        metrics_port=server.get("metrics_port", 9090), grpc_port=server.get("grpc_port", 50443),
        policy_mode=server.get("policy_mode", "file"),
        prefix_v4=overlay.get("prefix_v4", "100.64.0.0/10"),
        prefix_v6=overlay.get("prefix_v6", "fd7a:115c:a1e0::/48"),
        allocation=overlay.get("allocation", "sequential"), base_domain=overlay["base_domain"],
        region_id=derp.get("region_id", 999), region_code=derp.get("region_code", "campus"),
        region_name=derp.get("region_name", "Embedded DERP"),
        extra_regions=tuple(ExtraRegion(r["region_id"], r["code"], r.get("name", r["code"]),
                                        r["host"], r.get("https_port", 443),
                                        r.get("stun_port", 3478))
                            for r in derp.get("extra_regions") or ()),
        teams=tuple(Team(t["name"], tuple(t["robots"]), t.get("ros_domain_id", 0),
                         t.get("discovery", "fastdds-peers"), bridge_policy(t.get("bridge")))
                    for t in raw["teams"]),
        people=tuple(Person(p["name"], tuple(p["teams"])) for p in raw.get("people") or ()),
        key_owner=keys.get("owner", "fleet"), keys_reusable=keys.get("reusable", True),
        keys_ephemeral=keys.get("ephemeral", False), key_expiry=keys.get("expiry", "90d"),
        monitoring_tag=monitoring.get("tag", "monitoring") if "monitoring" in raw else "",
        robot_metrics_port=monitoring.get("metrics_port", 9101),
        derp_alert_after=monitoring.get("derp_alert_after", "10m"),
        offline_alert_after=monitoring.get("offline_alert_after", "2m"),
        rtt_alert_ms=float(monitoring.get("rtt_alert_ms", 500.0)),
        relays=tuple(Relay(r["name"], r["port"], tuple(r.get("teams") or ()),
                           tuple(r.get("people") or ())) for r in raw.get("relays") or ()))


def load_inventory(path: str | Path) -> Inventory:
    source = str(path)
    text = read_input(path, "a fleet inventory (YAML)")
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise InputError(f"{source}: not a fleet inventory: nested too deeply") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{source}: not valid YAML{where}: "
                         f"{getattr(err, 'problem', err)}") from None
    return parse_inventory(raw, source)
