"""The robot's zenoh bridge, judged from its admin space: is it up, which bridges it is connected
to, what it routes, and which listed topic has no route. Pure.

The bridge (zenohd with the ros2dds plugin, discovery mode ``zenoh-bridge``) answers queries on
its admin space. The monitor reads two parts of it, for its own zenoh id only (a query for
``@/*/…`` is answered by every bridge of the mesh):

- ``@/<zid>/peer`` (``@/<zid>/router`` for a router): version, locators and sessions; a session
  whose ``whatami`` is ``peer`` or ``router`` is another robot's bridge (or the team's router),
  a ``client`` is a reader like this monitor;
- ``@/<zid>/ros2/route/<kind>/<dir>/<name>``: one route per ROS interface the plugin bridges,
  with the local nodes behind it and ``remote_routes``, the other bridges' matching routes.

What the bridge should do comes from the configuration ``overlay-discovery`` wrote for it: the
endpoint it listens on, the bridges it connects to, and the allow list.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InputError
from .health import ERROR, OK, WARN, Check

BRIDGE_TASK = "bridge"
#: the plugin's route kinds (``ros2/route/<kind>/<direction>``) and what a person calls them
ROUTE_KINDS = {("topic", "pub"): "topic out", ("topic", "sub"): "topic in",
               ("service", "srv"): "service server", ("service", "cli"): "service client",
               ("action", "srv"): "action server", ("action", "cli"): "action client"}
#: the allow list's interface kinds, and the route kinds that serve them
_LISTED_KINDS = {"publishers": ("topic", "pub"), "subscribers": ("topic", "sub"),
                 "service_servers": ("service", "srv"), "service_clients": ("service", "cli"),
                 "action_servers": ("action", "srv"), "action_clients": ("action", "cli")}
_REGEX_CHARS = re.compile(r"[.*+?^$()\[\]{}|\\]")


@dataclass(frozen=True)
class BridgeTarget:
    """What the bridge was configured to do."""

    endpoint: str                       # e.g. tcp/100.64.0.1:7447 (a star: the router's)
    connect: tuple[str, ...] = ()       # the other bridges (mesh) or the router (star)
    #: a star's bridge is a client of the router, found there by its fixed id ("": mesh)
    zid: str = ""
    #: ROS names the allow list names literally, per interface kind (patterns are not judged)
    listed: tuple[tuple[str, str], ...] = ()
    namespace: str = ""


def bridge_target(text: str, source: str = "the bridge configuration") -> BridgeTarget:
    """The target of a zenohd configuration written by ``overlay-discovery`` (JSON)."""
    try:
        config = json.loads(text)
    except ValueError as err:
        raise InputError(f"{source} is not the JSON overlay-discovery writes ({err}); "
                         "run overlay-discovery again to rewrite it") from None
    if not isinstance(config, dict):
        raise InputError(f"{source}: expected a JSON object, found {type(config).__name__}")
    listen = (config.get("listen") or {}).get("endpoints") or []
    connect = tuple(str(e) for e in (config.get("connect") or {}).get("endpoints") or [])
    star = config.get("mode") == "client"
    if star and not (connect and config.get("id")):
        raise InputError(f"{source} is a client bridge (a star) without its router "
                         "(connect.endpoints) or its id: run overlay-discovery again")
    if not star and (not listen or not isinstance(listen, list)):
        raise InputError(f"{source} has no listen endpoint (listen.endpoints); expected e.g. "
                         "[\"tcp/100.64.0.1:7447\"]")
    plugin = (config.get("plugins") or {}).get("ros2dds")
    if not isinstance(plugin, dict):
        raise InputError(f"{source} loads no ros2dds plugin (plugins.ros2dds): not a ROS bridge")
    listed = []
    for kind, patterns in (plugin.get("allow") or {}).items():
        for pattern in patterns if isinstance(patterns, list) else [patterns]:
            literal = str(pattern).removeprefix("^").removesuffix("$")
            if kind in _LISTED_KINDS and not _REGEX_CHARS.search(literal):
                listed.append((kind, literal))
    return BridgeTarget(endpoint=connect[0] if star else str(listen[0]), connect=connect,
                        listed=tuple(listed), namespace=str(plugin.get("namespace") or ""),
                        zid=str(config["id"]) if star else "")


@dataclass(frozen=True)
class BridgeRoute:
    kind: tuple[str, str]               # ("topic", "pub") …
    name: str                           # the ROS name on this robot
    ros_type: str
    local_nodes: tuple[str, ...]
    remote_routes: tuple[str, ...]      # "<zid>:<key expression>" of the other bridges' routes


@dataclass
class BridgeStatus:
    reachable: bool
    error: str = ""
    zid: str = ""
    version: str = ""
    plugin_loaded: bool = False
    peers: tuple[str, ...] = ()         # zenoh ids of the connected bridges or routers
    routes: list[BridgeRoute] = field(default_factory=list)


def unreachable(reason: str) -> BridgeStatus:
    return BridgeStatus(reachable=False, error=reason)


def _json(value: object, key: str) -> dict[str, object]:
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(f"the bridge's admin space answered {key} with something that is "
                             "not JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"the bridge's admin space answered {key} with "
                         f"{type(value).__name__}, expected an object")
    return value


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def parse_admin(zid: str, replies: Mapping[str, object]) -> BridgeStatus:
    """The status of bridge ``zid`` from admin-space replies (key expression → JSON payload);
    replies of other bridges are ignored."""
    own = f"@/{zid}/"
    router_key = next((f"{own}{kind}" for kind in ("peer", "router", "client")
                       if f"{own}{kind}" in replies), "")
    if not router_key:
        raise InputError(f"the bridge {zid} did not answer {own}peer or {own}router: is the "
                         "admin space enabled (adminspace.enabled) in its configuration?")
    router = _json(replies[router_key], router_key)
    peers = tuple(sorted(str(s.get("peer", "")) for s in _list(router.get("sessions"))
                         if isinstance(s, dict) and s.get("whatami") in ("peer", "router")))
    plugins = router.get("plugins") or {}
    routes = []
    prefix = f"{own}ros2/route/"
    for key in sorted(replies):
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix):].split("/", 2)
        if len(parts) < 3 or (parts[0], parts[1]) not in ROUTE_KINDS:
            continue
        body = _json(replies[key], key)
        routes.append(BridgeRoute(
            kind=(parts[0], parts[1]), name=str(body.get("ros2_name") or "/" + parts[2]),
            ros_type=str(body.get("ros2_type") or ""),
            local_nodes=tuple(str(n) for n in _list(body.get("local_nodes"))),
            remote_routes=tuple(str(r) for r in _list(body.get("remote_routes")))))
    return BridgeStatus(reachable=True, zid=zid, version=str(router.get("version") or ""),
                        plugin_loaded=isinstance(plugins, dict) and "ros2dds" in plugins,
                        peers=peers, routes=routes)


def bridge_checks(status: BridgeStatus, target: BridgeTarget) -> list[Check]:
    """One check for the bridge itself, one per listed interface (no route / not across), and
    one per other route. Levels as the link checks' (health.py)."""
    if not status.reachable:
        return [Check(task=BRIDGE_TASK, level=ERROR,
                      message=f"bridge not reachable at {target.endpoint}: {status.error}",
                      values=(("endpoint", target.endpoint),))]
    wanted = len(target.connect)
    connected = len(status.peers)
    if not status.plugin_loaded:
        level, message = ERROR, "the ros2dds plugin is not loaded: nothing is bridged"
    elif wanted and not connected:
        level, message = WARN, (f"connected to none of the {wanted} bridge(s) it dials: "
                                "nothing crosses the overlay")
    else:
        level, message = OK, (f"{connected} bridge(s) connected, {len(status.routes)} "
                              "route(s)")
    values = [("endpoint", target.endpoint), ("zenoh id", status.zid),
              ("version", status.version or "unknown"), ("connected bridges", str(connected)),
              ("dials", ", ".join(target.connect) or "none (others dial it)"),
              ("routes", str(len(status.routes))),
              ("namespace across", target.namespace or "none")]
    values += [(f"bridge {i + 1}", zid) for i, zid in enumerate(status.peers)]
    checks = [Check(task=BRIDGE_TASK, level=level, message=message, hardware_id=status.zid,
                    values=tuple(values))]
    families: dict[tuple[str, str], list[BridgeRoute]] = {}
    for route in status.routes:
        families.setdefault((route.kind[0], route.name), []).append(route)
    listed = list(dict.fromkeys((_LISTED_KINDS[kind][0], name) for kind, name in target.listed))
    checks += [_route_check(family, name, families.get((family, name), []), connected)
               for family, name in listed]
    checks += [_route_check(family, name, routes, connected)
               for (family, name), routes in families.items() if (family, name) not in listed]
    return checks


_VERBS = {"topic": "publishes or subscribes", "service": "serves or calls",
          "action": "serves or sends goals to"}


def _route_check(family: str, name: str, routes: list[BridgeRoute], connected: int) -> Check:
    """One ROS name (topic, service or action) of this robot: its routes in both directions."""
    task = f"bridge {family} {name}"
    if not routes:
        return Check(task=task, level=WARN, message=(
            f"listed but no route: no node on this robot {_VERBS[family]} {name}"),
            values=(("routes", "none"),))
    remote = sorted({r for route in routes for r in route.remote_routes})
    values = (("type", routes[0].ros_type),
              ("directions", ", ".join(ROUTE_KINDS[r.kind] for r in routes)),
              ("local nodes", ", ".join(sorted({n for r in routes for n in r.local_nodes}))
               or "none"),
              ("remote routes", str(len(remote))))
    if not remote:
        level, message = WARN, ("routed here, but no other bridge has a matching route"
                                if connected else "routed here, but no other bridge is connected")
    else:
        bridges = {r.split(":", 1)[0] for r in remote}
        level, message = OK, f"across to {len(bridges)} bridge(s)"
    return Check(task=task, level=level, message=message, values=values)
