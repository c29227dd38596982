"""Robot namespaces and finding every robot's status topic. Pure."""
import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.fleet import (
    GLOBAL,
    hardware_id,
    pick_topics,
    resolve_namespace,
    robot_namespace,
    status_topics,
)

TYPE = ["overlay_msgs/msg/OverlayStatus"]


@pytest.mark.parametrize("name, namespace", [("r1", "/r1"), ("robot-7.lab.example.edu", "/robot_7"),
                                             ("R2D2", "/r2d2"), ("42", "/robot_42")])
def test_robot_namespace_is_a_rep144_name(name, namespace):
    assert robot_namespace(name) == namespace


def test_a_name_without_letters_or_digits_is_refused():
    with pytest.raises(InputError, match="cannot make a ROS namespace from the name '---'"):
        robot_namespace("---")


def test_resolve_namespace_defaults_to_the_overlay_name_and_slash_means_none():
    assert resolve_namespace("", "r3") == "/r3"
    assert resolve_namespace("/", "r3") == ""
    assert resolve_namespace("fleet/r3/", "r3") == "/fleet/r3"
    with pytest.raises(InputError, match="namespace '/r-3' is not a ROS namespace"):
        resolve_namespace("/r-3", "r3")


def test_status_topics_finds_every_robot_and_the_global_one():
    topics = [("/r2/overlay_monitor/status", TYPE), ("/r1/overlay_monitor/status", TYPE),
              ("/overlay_monitor/status", TYPE), ("/r1/overlay_monitor/events", ["x"]),
              ("/r3/overlay_monitor/status", ["std_msgs/msg/String"])]
    assert status_topics(topics) == {GLOBAL: "/overlay_monitor/status",
                                     "r1": "/r1/overlay_monitor/status",
                                     "r2": "/r2/overlay_monitor/status"}


def test_pick_topics_names_the_robots_seen():
    found = {"r1": "/r1/overlay_monitor/status"}
    assert pick_topics(found, "/r1") == found and pick_topics(found) == found
    with pytest.raises(InputError, match="no monitor status from robot 'r9' .robots seen: r1."):
        pick_topics(found, "r9")


def test_hardware_id_starts_with_the_robot():
    assert hardware_id("/r1", "nodekey:ab") == "r1/nodekey:ab"
    assert hardware_id("", "r1") == f"{GLOBAL}/r1"
