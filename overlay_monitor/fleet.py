"""Several robots on one ROS domain: each robot's nodes live under its own namespace (by
default its overlay name), so ``/r1/overlay_monitor/status`` and ``/r2/overlay_monitor/status``
never collide. Pure: names and topic lists in, names out.
"""
from __future__ import annotations

import re

from .errors import InputError

#: the monitor's status topic, relative to a robot's namespace
STATUS_TOPIC = "overlay_monitor/status"
STATUS_TYPE = "overlay_msgs/msg/OverlayStatus"
#: the name the views give a monitor that runs without a namespace
GLOBAL = "(global)"
_ROS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def robot_namespace(name: str) -> str:
    """A ROS namespace from a machine's overlay name: ``r1`` -> ``/r1``, ``robot-7.lab`` ->
    ``/robot_7``. REP-144 names: letters, digits and underscores, starting with a letter."""
    base = name.strip().split(".")[0].lower()
    cleaned = re.sub(r"[^a-z0-9_]", "_", base).strip("_")
    if cleaned and not cleaned[0].isalpha():
        cleaned = f"robot_{cleaned}"
    if not cleaned or not _ROS_NAME.match(cleaned):
        raise InputError(f"cannot make a ROS namespace from the name {name!r} (expected a "
                         "hostname such as r1 or robot-7)")
    return f"/{cleaned}"


def resolve_namespace(setting: str, overlay_name: str) -> str:
    """The launch argument ``namespace``: empty -> the robot's overlay name; ``/`` -> none
    (the old single-robot layout); anything else -> that namespace, checked."""
    value = setting.strip()
    if value == "":
        return robot_namespace(overlay_name)
    if value == "/":
        return ""
    parts = value.strip("/").split("/")
    if not all(_ROS_NAME.match(p) for p in parts):
        raise InputError(f"namespace {setting!r} is not a ROS namespace (expected e.g. /r1: "
                         "letters, digits, underscores, each part starting with a letter)")
    return "/" + "/".join(parts)


def status_topics(topics: list[tuple[str, list[str]]]) -> dict[str, str]:
    """Every monitor's status topic in a ROS graph listing, by robot (namespace without the
    slash; GLOBAL for a monitor without one), sorted by robot."""
    found = {}
    for name, types in topics:
        if STATUS_TYPE not in types:
            continue
        if name == f"/{STATUS_TOPIC}":
            found[GLOBAL] = name
        elif name.endswith(f"/{STATUS_TOPIC}"):
            found[name[1:-len(STATUS_TOPIC) - 1]] = name
    return dict(sorted(found.items()))


def pick_topics(found: dict[str, str], robot: str = "") -> dict[str, str]:
    """The status topics to show: one robot's when ``robot`` is given, else all of them."""
    if not robot:
        return found
    key = robot.strip("/")
    if key not in found:
        known = ", ".join(found) or "none yet"
        raise InputError(f"no monitor status from robot {robot!r} (robots seen: {known})")
    return {key: found[key]}


def hardware_id(robot: str, detail: str) -> str:
    """A diagnostic's hardware id: the robot it was measured on, then what it is about."""
    robot = robot.strip("/") or GLOBAL
    return f"{robot}/{detail}" if detail else robot
