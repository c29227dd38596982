"""Join the overlay, configure ROS discovery over it, start the link monitor (a robot)."""
from launch.actions import OpaqueFunction

from launch import LaunchDescription
from overlay_bringup.launch_actions import ARGUMENTS, bringup_actions, declare_arguments


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare_arguments(list(ARGUMENTS))
                             + [OpaqueFunction(function=bringup_actions)])
