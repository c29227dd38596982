"""Modes that need only environment variables: static peers, zenoh, ROS 1. Pure."""
from __future__ import annotations

import json

from .model import DiscoveryConfig, DiscoveryRequest

ZENOH_PORT = 7447


def static_peers_config(request: DiscoveryRequest) -> DiscoveryConfig:
    config = DiscoveryConfig(mode=request.mode)
    config.env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = request.discovery_range
    config.env["ROS_STATIC_PEERS"] = ";".join(request.other_peers())
    if request.discovery_range == "LOCALHOST":
        config.notes.append("LOCALHOST keeps discovery multicast off the campus network; it "
                            "probes more ports per peer than SUBNET (about 2.5x the traffic)")
    else:
        config.notes.append("SUBNET also multicasts discovery on the local (campus) network")
    config.notes.append("ROS_STATIC_PEERS is read at start: restart processes when peers change")
    return config


def zenoh_config(request: DiscoveryRequest) -> DiscoveryConfig:
    endpoints = json.dumps([f"tcp/{peer}:{ZENOH_PORT}" for peer in request.other_peers()])
    config = DiscoveryConfig(mode=request.mode)
    config.env["RMW_IMPLEMENTATION"] = "rmw_zenoh_cpp"
    # the local zenoh router (rmw_zenohd) connects to the other members' routers
    config.env["ZENOH_ROUTER_CONFIG_OVERRIDE"] = (
        f"connect/endpoints={endpoints};scouting/multicast/enabled=false")
    config.env["ZENOH_CONFIG_OVERRIDE"] = "scouting/multicast/enabled=false"
    config.notes.append("run the zenoh router on every member: ros2 run rmw_zenoh_cpp rmw_zenohd")
    return config


def ros1_config(request: DiscoveryRequest) -> DiscoveryConfig:
    config = DiscoveryConfig(mode=request.mode, restart_needed_on_peer_change=False)
    config.env["ROS_MASTER_URI"] = f"http://{request.server}:11311"
    config.env["ROS_IP"] = request.self_ip
    config.notes.append("ROS_IP is this member's overlay address, so other members reach its "
                        "nodes over the overlay")
    return config
