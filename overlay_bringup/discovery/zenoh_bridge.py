"""The ``zenoh-bridge`` mode: ROS nodes stay on the robot, one bridge carries chosen topics over
the overlay. Pure.

- The nodes keep Fast DDS's defaults (shared memory between them), limited to this machine with
  ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: no multicast, unicast discovery on 127.0.0.1,
  nothing sent on a real interface.
- The bridge is ``zenohd`` with the ``ros2dds`` plugin. Its DDS side (Cyclone DDS inside the
  plugin) also uses LOCALHOST, and a Cyclone configuration that binds it to 127.0.0.1. Without
  that binding Cyclone advertises its first real interface, and the Fast DDS nodes never answer
  (measured in the lab: 0 messages; with it 90 of 90). Its zenoh side listens on this robot's
  overlay address only (TCP) and connects to the other members' bridges, or to one router when
  the team is a star. The bridges are zenoh peers: a peer delivers only what it is sent for
  its own nodes and never forwards between two others, so traffic between two members flows
  only where the policy lets them reach each other.
- ``BridgePolicy`` says what crosses: allow or deny patterns for topics, services and actions
  (regular expressions over full ROS names), a maximum rate for heavy topics, and the namespace
  the bridge puts in front of every name it routes, so robots running the same stack do not
  collide.
"""
from __future__ import annotations

import hashlib
import json

from .model import BridgePolicy, DiscoveryConfig, DiscoveryRequest

BRIDGE_PORT = 7447
BRIDGE_CONFIG_FILE = "zenoh_bridge.json5"
BRIDGE_CYCLONE_FILE = "cyclonedds_bridge.xml"
#: the environment of the bridge process (``DiscoveryConfig.extra_env``)
BRIDGE_ENV = "bridge"
PLUGIN_NAME = "ros2dds"
#: the plugin's interface kinds behind each of the inventory's words
KINDS = {"topics": ("publishers", "subscribers"),
         "services": ("service_servers", "service_clients"),
         "actions": ("action_servers", "action_clients")}
CYCLONE_LOOPBACK = ('<CycloneDDS><Domain><General><Interfaces>'
                    '<NetworkInterface address="127.0.0.1"/></Interfaces></General>'
                    '</Domain></CycloneDDS>\n')


def plugin_config(request: DiscoveryRequest, policy: BridgePolicy) -> dict[str, object]:
    """The ros2dds plugin's section of the zenohd configuration."""
    section: dict[str, object] = {"domain": request.domain_id,
                                  "ros_automatic_discovery_range": "LOCALHOST",
                                  "nodename": "overlay_bridge"}
    if policy.namespace:
        section["namespace"] = policy.namespace
    listed = {kind: list(getattr(policy, word)) for word, kinds in KINDS.items()
              for kind in kinds if getattr(policy, word)}
    if policy.rule == "allow":
        section["allow"] = listed  # an empty allow list lets nothing cross
    elif listed:
        section["deny"] = listed
    if policy.max_rates:
        section["pub_max_frequencies"] = [f"{p}={hz:g}" for p, hz in policy.max_rates]
    return section


def zenohd_config(request: DiscoveryRequest, policy: BridgePolicy,
                  plugin_dir: str = "") -> dict[str, object]:
    """The whole zenohd configuration of one robot's bridge."""
    if policy.router:
        connect = [f"tcp/{policy.router}"]
    else:
        connect = [f"tcp/{peer}:{BRIDGE_PORT}" for peer in request.other_peers()]
    config: dict[str, object] = {
        # peer, not router: a peer never forwards between two other bridges, so a member of
        # two teams (a person's laptop) cannot carry one team's topics to the other behind
        # the policy's back (measured: as routers, r1's topics reached team lab2 through it).
        # In a star each bridge is a client of the team's router (as peers of it, with or
        # without gossip, the routes of one bridge never reached the other: measured in
        # test_zenoh_star_lab)
        "mode": "client" if policy.router else "peer",
        # a client listens nowhere: only the router accepts connections
        "listen": {"endpoints": [] if policy.router else [f"tcp/{request.self_ip}:{BRIDGE_PORT}"]},
        # every member dials every other one (join order does not matter); retry within a
        # second, not zenoh's 4 s, once a path through the overlay is back
        "connect": {"endpoints": connect, "retry": {"period_init_ms": 250, "period_max_ms": 1000,
                                                    "period_increase_factor": 2}},
        "scouting": {"multicast": {"enabled": False}, "gossip": {"enabled": False}},
        "plugins_loading": {"enabled": True, **({"search_dirs": [plugin_dir]} if plugin_dir
                                                 else {})},
        "plugins": {PLUGIN_NAME: plugin_config(request, policy)},
        # the admin space answers the monitor's queries (bridged routes, connected peers)
        "adminspace": {"enabled": True, "permissions": {"read": True, "write": False}},
    }
    if policy.router:  # the monitor reaches a client bridge through the router, by this id
        config["id"] = bridge_zid(request.self_ip)
    return config


def bridge_zid(self_ip: str) -> str:
    """A star bridge's zenoh id, fixed by its overlay address (32 hex digits, not zero)."""
    return "1" + hashlib.sha256(f"overlay-bridge/{self_ip}".encode()).hexdigest()[:31]


#: the star's router configuration file (``overlay-discovery zenoh-router``)
ROUTER_CONFIG_FILE = "zenoh_router.json5"


def router_config(self_ip: str, port: int = BRIDGE_PORT) -> dict[str, object]:
    """A team's star router (the inventory's ``bridge.router``): a plain zenohd router on its
    host's overlay address, no plugin, no scouting. It forwards between every bridge that
    connects to it, so each team needs its own (its own port): the ACL lets only that team's
    bridges reach it."""
    return {
        "mode": "router",
        "listen": {"endpoints": [f"tcp/{self_ip}:{port}"]},
        "scouting": {"multicast": {"enabled": False}, "gossip": {"enabled": False}},
        "plugins_loading": {"enabled": False},
        "adminspace": {"enabled": True, "permissions": {"read": True, "write": False}},
    }


def render_json5(config: dict[str, object]) -> str:
    """JSON is JSON5: zenohd reads it as is."""
    return json.dumps(config, indent=2) + "\n"


def bridge_config(request: DiscoveryRequest) -> DiscoveryConfig:
    policy = request.bridge
    config = DiscoveryConfig(mode=request.mode, restart_needed_on_peer_change=False)
    # the nodes: Fast DDS defaults (shared memory), this machine only
    config.env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    config.env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    config.files[BRIDGE_CONFIG_FILE] = render_json5(zenohd_config(request, policy,
                                                                  request.bridge_plugin_dir))
    config.files[BRIDGE_CYCLONE_FILE] = CYCLONE_LOOPBACK
    config.extra_env[BRIDGE_ENV] = {"ROS_DISTRO": request.ros_distro,
                                    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                                    "CYCLONEDDS_URI": f"file://{{dir}}/{BRIDGE_CYCLONE_FILE}",
                                    "OVERLAY_BRIDGE_CONFIG": f"{{dir}}/{BRIDGE_CONFIG_FILE}"}
    config.notes.append(f"the bridge: zenohd -c {BRIDGE_CONFIG_FILE} with the ros2dds plugin "
                        "(robot.launch.py starts it); it listens on "
                        f"tcp/{request.self_ip}:{BRIDGE_PORT} only")
    if policy.rule == "allow" and not (policy.topics or policy.services or policy.actions):
        config.notes.append("the allow list is empty: nothing crosses the overlay")
    # a new member connects to the bridges already there: nobody else restarts
    return config
