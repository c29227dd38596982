"""Join the overlay, configure ROS discovery over it, start the link monitor (a robot)."""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from overlay_bringup.discovery.model import MODES
from overlay_bringup.launch_actions import bringup_actions


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("robot_name", default_value="",
                              description="this robot's name in the overlay (default: hostname)"),
        DeclareLaunchArgument("login_server", default_value="",
                              description="https:// URL of the Headscale server; empty: do not "
                                          "join (already a member)"),
        DeclareLaunchArgument("auth_key_file", default_value="",
                              description="the team's pre-auth key file (0600), from its bundle"),
        DeclareLaunchArgument("tags", default_value="",
                              description="ACL tags to advertise, comma-separated (tag:team-a)"),
        DeclareLaunchArgument("ca_file", default_value="",
                              description="the fleet CA certificate, to check the server"),
        DeclareLaunchArgument("discovery_mode", default_value="fastdds-peers",
                              choices=list(MODES), description="how ROS finds peers over the overlay"),
        DeclareLaunchArgument("domain_id", default_value="0",
                              description="ROS_DOMAIN_ID of the team (0..232)"),
        DeclareLaunchArgument("discovery_server", default_value="",
                              description="fastdds-server: IP:PORT; ros1: the master's address"),
        DeclareLaunchArgument("backend", default_value="tailscale",
                              choices=["tailscale", "wireguard"], description="overlay backend"),
        DeclareLaunchArgument("socket_path", default_value="/var/run/tailscale/tailscaled.sock",
                              description="tailscaled's LocalAPI socket"),
        DeclareLaunchArgument("interface", default_value="tailscale0",
                              description="overlay interface (tailscale0, or a WireGuard one)"),
        DeclareLaunchArgument("discovery_dir", default_value="",
                              description="where to write the discovery files "
                                          "(default ~/.ros/overlay_bringup/discovery)"),
        DeclareLaunchArgument("start_monitor", default_value="true", choices=["true", "false"],
                              description="start the overlay link monitor"),
        DeclareLaunchArgument("monitor_params", description="monitor parameter file",
                              default_value=PathJoinSubstitution(
                                  [FindPackageShare("overlay_bringup"), "config", "monitor.yaml"])),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=bringup_actions)])
