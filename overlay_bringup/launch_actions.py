"""Glue between launch files and ``bringup``: read launch arguments, return launch actions."""
from __future__ import annotations

import os
from typing import Any

from launch.actions import LogInfo, SetEnvironmentVariable
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from .bringup import BringupOptions, bring_up, truthy


def _arg(context: LaunchContext, name: str) -> str:
    return str(LaunchConfiguration(name).perform(context))


def options_from(context: LaunchContext) -> BringupOptions:
    def get(name: str, default: str = "") -> str:
        value = context.launch_configurations.get(name)
        return default if value is None else _arg(context, name)

    return BringupOptions(
        robot_name=get("robot_name"), login_server=get("login_server"),
        auth_key_file=get("auth_key_file"),
        tags=tuple(t.strip() for t in get("tags").split(",") if t.strip()),
        ca_file=get("ca_file"), discovery_mode=get("discovery_mode", "fastdds-peers"),
        domain_id=int(get("domain_id", "0")), discovery_server=get("discovery_server"),
        backend=get("backend", "tailscale"), socket_path=get("socket_path"),
        interface=get("interface", "tailscale0"), discovery_dir=get("discovery_dir"),
        ros_distro=os.environ.get("ROS_DISTRO", "jazzy"))


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
    if truthy(_arg(context, "start_monitor")):
        actions.append(Node(
            package="overlay_bringup", executable="overlay_monitor", name="overlay_monitor",
            output="screen",
            parameters=[_arg(context, "monitor_params"),
                        {"backend": options.backend, "socket_path": options.socket_path,
                         "interface": options.interface if options.backend == "wireguard" else ""}]))
    return actions
