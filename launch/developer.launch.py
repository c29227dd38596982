"""A developer's laptop: usually already in the overlay (the Tailscale app); configure ROS
discovery over it and start the link monitor. Give login_server to join from here instead."""
from launch.actions import OpaqueFunction

from launch import LaunchDescription
from overlay_bringup.launch_actions import bringup_actions, declare_arguments

ARGUMENTS = ["login_server", "auth_key_file", "robot_name", "discovery_mode", "domain_id",
             "discovery_server", "socket_path", "interface", "start_monitor", "namespace",
             "participants"]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(ARGUMENTS)
                             + [OpaqueFunction(function=bringup_actions)])
