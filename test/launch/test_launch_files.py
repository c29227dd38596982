"""Both launch files load, and every argument is documented (choices where it is a choice)."""
import importlib.util

import pytest

from overlay_testing import REPO, skip_or_fail

try:
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
except ImportError as err:
    skip_or_fail(f"launch not installed: {err}")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize("name, required", [
    ("robot.launch.py", {"robot_name", "login_server", "auth_key_file", "tags", "discovery_mode",
                         "domain_id", "discovery_server", "start_monitor"}),
    ("developer.launch.py", {"discovery_mode", "domain_id", "start_monitor", "login_server"}),
])
def test_launch_file_arguments_are_declared_and_described(name, required):
    description = _load(name)
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert required <= set(arguments)
    for argument in arguments.values():
        assert len(argument.description) > 10, argument.name
    assert arguments["discovery_mode"].choices == ["fastdds-peers", "fastdds-server", "cyclone",
                                                   "static-peers", "zenoh", "zenoh-bridge", "ros1"]
    assert arguments["start_monitor"].choices == ["true", "false"]
    # the launch file only declares and calls tested Python
    assert [type(e) for e in description.entities if not isinstance(e, DeclareLaunchArgument)] \
        == [OpaqueFunction]
