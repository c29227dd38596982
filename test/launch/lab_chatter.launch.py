"""Test launch file: robot.launch.py, then a chatter talker or listener that inherits the
discovery environment robot.launch.py set (how a robot's own nodes get it). The launch ends
when the chatter does."""
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    robot = IncludeLaunchDescription(PythonLaunchDescriptionSource(PathJoinSubstitution(
        [FindPackageShare("overlay_bringup"), "launch", "robot.launch.py"])))
    chatter = ExecuteProcess(cmd=["python3", "-m", "overlay_lab.chatter",
                                  LaunchConfiguration("role"), "--duration",
                                  LaunchConfiguration("duration"), "--times"], output="screen")
    return LaunchDescription([
        DeclareLaunchArgument("role", choices=["talk", "listen"], description="chatter role"),
        DeclareLaunchArgument("duration", default_value="20", description="seconds"),
        robot, chatter,
        RegisterEventHandler(OnProcessExit(target_action=chatter,
                                           on_exit=[EmitEvent(event=Shutdown())]))])
