"""Glue between launch files and ``bringup``: read launch arguments, return launch actions."""
from __future__ import annotations

import os
import socket
import subprocess
from typing import Any

from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    LogInfo,
    SetEnvironmentVariable,
)
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.errors import ComponentMissing, InputError
from overlay_monitor.fleet import resolve_namespace

from .bringup import BringupOptions, BringupPlan, bring_up, truthy
from .components import ZENOH_STAMP, require_components, zenoh_mismatch, zenoh_plugin_dir
from .discovery.files import read_env
from .discovery.model import DEFAULT_PARTICIPANTS
from .discovery.modes import MODE_NAMES
from .discovery.zenoh_bridge import BRIDGE_CONFIG_FILE, BRIDGE_ENV
from .join.proxy import DEFAULT_ENV_FILE, DEFAULT_RESTART

#: name -> (default, description, choices) of every argument the launch files declare
ARGUMENTS: dict[str, tuple[str, str, list[str] | None]] = {
    "robot_name": ("", "this machine's name in the overlay (default: hostname)", None),
    "login_server": ("", "https:// URL of the Headscale server; empty: do not join (already a "
                         "member)", None),
    "auth_key_file": ("", "the team's pre-auth key file (0600), from its enrolment bundle", None),
    "tags": ("", "the ACL tags this robot must end up with, comma-separated (e.g. tag:team-a): "
                 "the team's auth key gives them; joining checks them and names a key of another "
                 "team", None),
    "ca_file": ("", "the fleet CA certificate, to check the server", None),
    "discovery_mode": ("fastdds-peers", "how ROS finds peers over the overlay (must match the "
                                        "team's)", list(MODE_NAMES)),
    "domain_id": ("0", "ROS_DOMAIN_ID of the team (0..232)", None),
    "discovery_server": ("", "fastdds-server: IP:PORT of the server; ros1: the master's address",
                         None),
    "backend": ("tailscale", "overlay backend", ["tailscale", "wireguard"]),
    "socket_path": (DEFAULT_SOCKET, "tailscaled's LocalAPI socket", None),
    "interface": ("tailscale0", "overlay interface (tailscale0, or a WireGuard one)", None),
    "discovery_dir": ("", "where to write the discovery files (default "
                          "~/.ros/overlay_bringup/discovery)", None),
    "participants": (str(DEFAULT_PARTICIPANTS), "fastdds-peers: how many ROS processes each "
                     "member may run and still be found (1..120; Fast DDS alone finds 4)", None),
    "start_monitor": ("true", "start the overlay link monitor", ["true", "false"]),
    "start_link_test": ("false", "also serve link tests (the link_test node: its ~/run service, "
                                 "TCP 5301-5302 on the overlay)", ["true", "false"]),
    "namespace": ("", "ROS namespace of every node this starts, so robots of one team on one "
                      "domain never collide; empty: the robot's overlay name (/r1); '/': none",
                  None),
    "guard_route": ("true", "after joining, install 'unreachable 100.64.0.0/10 metric 4000' so "
                            "overlay traffic never leaves in clear text when tailscaled stops",
                    ["true", "false"]),
    "bridge_policy": ("", "discovery_mode zenoh-bridge: the team's bridge.json (what crosses "
                          "the overlay; from its bundle); empty: every topic crosses", None),
    "proxy": ("", "a web-proxy-only campus: http://HOST:PORT of the proxy tailscaled must use "
                  "(written to proxy_env_file, tailscaled restarted when it changed); 'none' "
                  "removes it; empty: leave it as it is", None),
    "proxy_env_file": (DEFAULT_ENV_FILE, "tailscaled's environment file, for proxy", None),
    "tailscaled_restart": (DEFAULT_RESTART, "how tailscaled is restarted after proxy changed",
                           None),
    "relay_server_port": ("0", "after joining, serve as a peer relay on this UDP port "
                               "(1024..65535; 0: not a relay). Only for a member enrolled with "
                               "a relay's bundle (Tailscale >= 1.86)", None),
}


def declare_arguments(names: list[str]) -> list[DeclareLaunchArgument]:
    """The DeclareLaunchArgument of each name, plus the monitor's parameter file."""
    declared = []
    for name in names:
        default, description, choices = ARGUMENTS[name]
        declared.append(DeclareLaunchArgument(name, default_value=default,
                                              description=description, choices=choices))
    declared.append(DeclareLaunchArgument(
        "monitor_params", description="parameter file of the monitor node",
        default_value=PathJoinSubstitution([FindPackageShare("overlay_bringup"), "config",
                                            "monitor.yaml"])))
    return declared


def _arg(context: LaunchContext, name: str) -> str:
    return str(LaunchConfiguration(name).perform(context))


def _number(name: str, text: str, expected: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} {text!r} is not a number (expected {expected})") from None


def get_or(context: LaunchContext, name: str, default: str = "") -> str:
    """A launch argument's value, or ``default`` when the launch file does not declare it."""
    value = context.launch_configurations.get(name)
    return default if value is None else _arg(context, name)


def options_from(context: LaunchContext) -> BringupOptions:
    def get(name: str, default: str = "") -> str:
        return get_or(context, name, default)

    return BringupOptions(
        robot_name=get("robot_name"), login_server=get("login_server"),
        auth_key_file=get("auth_key_file"),
        tags=tuple(t.strip() for t in get("tags").split(",") if t.strip()),
        ca_file=get("ca_file"), discovery_mode=get("discovery_mode", "fastdds-peers"),
        domain_id=int(get("domain_id", "0")), discovery_server=get("discovery_server"),
        backend=get("backend", "tailscale"), socket_path=get("socket_path"),
        interface=get("interface", "tailscale0"), discovery_dir=get("discovery_dir"),
        guard_route=truthy(get("guard_route", "true")),
        relay_server_port=_number("relay_server_port", get("relay_server_port", "0"),
                                  "a UDP port from 1024 to 65535, or 0"),
        participants=_number("participants", get("participants", str(DEFAULT_PARTICIPANTS)),
                             "1..120 ROS processes per member"),
        proxy=get("proxy"), proxy_env_file=get("proxy_env_file", DEFAULT_ENV_FILE),
        tailscaled_restart=get("tailscaled_restart", DEFAULT_RESTART),
        ros_distro=os.environ.get("ROS_DISTRO", "jazzy"),
        bridge_policy_file=get("bridge_policy"), bridge_plugin_dir=_plugin_dir(
            get("discovery_mode", "fastdds-peers")))


def _plugin_dir(mode: str) -> str:
    if mode != "zenoh-bridge":
        return ""
    zenohd = require_components("zenohd")["zenohd"]
    folder = zenoh_plugin_dir(zenohd)
    if folder is not None:
        stamp = (folder / ZENOH_STAMP)
        if stamp.is_file():
            version = subprocess.run([str(zenohd), "--version"], capture_output=True, text=True,
                                     timeout=10, env=dict(os.environ, RUST_LOG="error"))
            problem = zenoh_mismatch(version.stdout, stamp.read_text())
            if problem:
                raise ComponentMissing(problem)
    return str(folder) if folder else ""


def bridge_action(plan: BringupPlan) -> Any:
    """The robot's zenoh bridge as a launched process (respawned when it dies)."""
    env = read_env((plan.discovery_dir / f"env.{BRIDGE_ENV}").read_text())
    zenohd = str(require_components("zenohd")["zenohd"])
    return ExecuteProcess(cmd=[zenohd, "-c", str(plan.discovery_dir / BRIDGE_CONFIG_FILE)],
                          name="overlay_bridge", additional_env=env, output="screen",
                          respawn=True, respawn_delay=2.0, sigterm_timeout="5")


def bringup_actions(context: LaunchContext, *args: Any, **kwargs: Any) -> list[Any]:
    """OpaqueFunction body of robot.launch.py and developer.launch.py."""
    options = options_from(context)
    plan = bring_up(options)
    me = plan.snapshot.self_peer
    actions: list[Any] = [SetEnvironmentVariable(key, value) for key, value in sorted(plan.env.items())]
    actions.append(LogInfo(msg=(
        f"overlay: {plan.joined}; {me.hostname if me else '?'} "
        f"{', '.join(me.overlay_ips) if me else ''}; {len(plan.snapshot.peers)} peer(s); "
        f"discovery {options.discovery_mode} from {plan.discovery_dir}")))
    actions += [LogInfo(msg=f"overlay: note: {note}") for note in plan.notes]
    namespace = resolve_namespace(get_or(context, "namespace"), me.hostname if me and me.hostname
                                  else options.robot_name or socket.gethostname())
    actions.append(LogInfo(msg=f"overlay: nodes in namespace {namespace or '/'}"))
    if options.discovery_mode == "zenoh-bridge":
        actions.append(bridge_action(plan))
    if truthy(get_or(context, "start_link_test", "false")):
        actions.append(Node(package="overlay_bringup", executable="link_test", name="link_test",
                            namespace=namespace, output="screen"))
    if truthy(_arg(context, "start_monitor")):
        actions.append(Node(
            package="overlay_bringup", executable="overlay_monitor", name="overlay_monitor",
            namespace=namespace, output="screen",
            parameters=[_arg(context, "monitor_params"),
                        {"backend": options.backend, "socket_path": options.socket_path,
                         "interface": options.interface if options.backend == "wireguard" else "",
                         # the monitor watches the bridge too (health, metrics, routes)
                         "bridge_config": str(plan.discovery_dir / BRIDGE_CONFIG_FILE)
                         if options.discovery_mode == "zenoh-bridge" else ""}]))
    return actions
