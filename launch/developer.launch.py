"""A developer's laptop: usually already in the overlay (the Tailscale app); configure ROS
discovery over it and start the link monitor. Give login_server to join from here instead."""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from overlay_bringup.discovery.model import MODES
from overlay_bringup.launch_actions import bringup_actions


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("login_server", default_value="",
                              description="https:// URL of the Headscale server; empty: use the "
                                          "current membership"),
        DeclareLaunchArgument("auth_key_file", default_value="",
                              description="pre-auth key file (0600), only with login_server"),
        DeclareLaunchArgument("robot_name", default_value="",
                              description="this laptop's name in the overlay (default hostname)"),
        DeclareLaunchArgument("discovery_mode", default_value="fastdds-peers",
                              choices=list(MODES), description="must match the team's mode"),
        DeclareLaunchArgument("domain_id", default_value="0",
                              description="ROS_DOMAIN_ID of the team to work with (0..232)"),
        DeclareLaunchArgument("discovery_server", default_value="",
                              description="fastdds-server: IP:PORT; ros1: the master's address"),
        DeclareLaunchArgument("socket_path", default_value="/var/run/tailscale/tailscaled.sock",
                              description="tailscaled's LocalAPI socket"),
        DeclareLaunchArgument("interface", default_value="tailscale0",
                              description="overlay interface"),
        DeclareLaunchArgument("start_monitor", default_value="true", choices=["true", "false"],
                              description="start the overlay link monitor"),
        DeclareLaunchArgument("monitor_params", description="monitor parameter file",
                              default_value=PathJoinSubstitution(
                                  [FindPackageShare("overlay_bringup"), "config", "monitor.yaml"])),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=bringup_actions)])
