"""The zenoh bridge's checks and metrics, from admin-space replies recorded from the real zenohd
(test/fixtures/real/zenoh_admin_r1.json, tools/record_real_fixtures.py --zenoh-admin)."""
import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from overlay_bringup.discovery.model import BridgePolicy, DiscoveryRequest
from overlay_bringup.discovery.modes import generate
from overlay_bringup.discovery.zenoh_bridge import BRIDGE_CONFIG_FILE
from overlay_monitor.bridge import (
    BRIDGE_TASK,
    BridgeTarget,
    bridge_checks,
    bridge_target,
    parse_admin,
    unreachable,
)
from overlay_monitor.errors import InputError
from overlay_monitor.health import ERROR, OK, WARN
from overlay_monitor.metrics import bridge_exposition
from overlay_testing import FIXTURES, REPO

RECORDED = json.loads((FIXTURES / "real" / "zenoh_admin_r1.json").read_text())


def _generated(topics=("/chatter", "/missing"), peers=("100.64.0.2", "100.64.0.3")):
    config = generate(DiscoveryRequest("zenoh-bridge", "100.64.0.1", ("100.64.0.1", *peers),
                                       bridge=BridgePolicy(rule="allow", topics=topics)))
    return config.files[BRIDGE_CONFIG_FILE]


def _recorded_status():
    return parse_admin(RECORDED["zid"], {k: json.dumps(v) for k, v in RECORDED["replies"].items()})


def _by_task(checks):
    return {c.task: c for c in checks}


def test_the_target_comes_from_the_configuration_overlay_discovery_writes():
    target = bridge_target(_generated())
    assert target.endpoint == "tcp/100.64.0.1:7447"
    assert target.connect == ("tcp/100.64.0.2:7447", "tcp/100.64.0.3:7447")
    assert ("publishers", "/chatter") in target.listed
    assert ("subscribers", "/missing") in target.listed


def test_regular_expressions_in_the_allow_list_are_not_judged_as_names():
    target = bridge_target(_generated(topics=("/camera/.*", "/cmd_vel")))
    assert {name for _, name in target.listed} == {"/cmd_vel"}


@pytest.mark.parametrize("text, words", [
    ("{not json", "not the JSON overlay-discovery writes"),
    ('{"plugins": {"ros2dds": {}}}', "no listen endpoint"),
    ('{"listen": {"endpoints": ["tcp/1.2.3.4:7447"]}}', "no ros2dds plugin"),
    ("[1]", "expected a JSON object"),
])
def test_a_bad_configuration_is_named(text, words):
    with pytest.raises(InputError, match=re.escape(words)) as err:
        bridge_target(text, "/robot/zenoh_bridge.json5")
    assert "/robot/zenoh_bridge.json5" in str(err.value)


def test_the_recorded_admin_space_parses():
    status = _recorded_status()
    assert status.reachable and status.plugin_loaded
    assert status.zid == RECORDED["zid"]
    assert len(status.peers) == 1  # r2's bridge; the monitor's own client session is not one
    chatter = [r for r in status.routes if r.name == "/chatter"]
    assert [r.kind for r in chatter] == [("topic", "pub")]
    assert chatter[0].ros_type == "std_msgs/msg/String"
    assert chatter[0].local_nodes and chatter[0].remote_routes


def test_the_recorded_version_is_the_pinned_one():
    pins = dict(re.findall(r"^(\w+)_VERSION=v?(\S+)$",
                           (REPO / "tools" / "components.env").read_text(), re.M))
    assert _recorded_status().version.startswith(f"v{pins['ZENOH']}")
    # the monitor's zenoh client is the same zenoh version as the bridge
    assert f"eclipse-zenoh=={pins['ZENOH']}" in (REPO / "requirements.txt").read_text()


def test_replies_of_other_bridges_of_the_mesh_are_ignored():
    replies = {k: json.dumps(v) for k, v in RECORDED["replies"].items()}
    replies["@/0123abcd/ros2/route/topic/sub/elsewhere"] = json.dumps(
        {"ros2_name": "/elsewhere", "local_nodes": ["/n"], "remote_routes": []})
    assert "/elsewhere" not in {r.name for r in parse_admin(RECORDED["zid"], replies).routes}


def test_an_answer_without_the_router_key_names_the_admin_space():
    with pytest.raises(InputError, match="adminspace.enabled"):
        parse_admin("abc", {})


def test_checks_of_a_working_bridge_a_routed_topic_and_a_listed_topic_without_route():
    checks = _by_task(bridge_checks(_recorded_status(), bridge_target(_generated(peers=(
        "100.64.0.2",)))))
    assert checks[BRIDGE_TASK].level == OK
    assert "1 bridge(s) connected" in checks[BRIDGE_TASK].message
    assert checks["bridge topic /chatter"].level == OK
    assert checks["bridge topic /chatter"].message == "across to 1 bridge(s)"
    missing = checks["bridge topic /missing"]
    assert missing.level == WARN and "listed but no route" in missing.message


def test_a_bridge_connected_to_nobody_it_dials_warns_and_so_does_its_route():
    from dataclasses import replace

    status = _recorded_status()
    status.peers = ()
    status.routes = [replace(r, remote_routes=()) for r in status.routes]
    checks = _by_task(bridge_checks(status, bridge_target(_generated())))
    assert checks[BRIDGE_TASK].level == WARN
    assert "none of the 2 bridge(s)" in checks[BRIDGE_TASK].message
    assert checks["bridge topic /chatter"].level == WARN
    assert checks["bridge topic /chatter"].message == ("routed here, but no other bridge is "
                                                       "connected")


def test_a_bridge_that_does_not_answer_is_an_error_naming_its_endpoint():
    checks = bridge_checks(unreachable("Unable to connect to any of [tcp/100.64.0.1:7447]"),
                           BridgeTarget(endpoint="tcp/100.64.0.1:7447"))
    assert [c.level for c in checks] == [ERROR]
    assert "tcp/100.64.0.1:7447" in checks[0].message and "Unable to connect" in checks[0].message


def _samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_the_recorded_bridge():
    samples = _samples(bridge_exposition(_recorded_status()))
    assert samples[("overlay_bridge_up", ())] == 1.0
    assert samples[("overlay_bridge_connected_bridges", ())] == 1.0
    assert samples[("overlay_bridge_routes", (("kind", "topic out"),))] >= 1.0
    assert samples[("overlay_bridge_route_remote_routes",
                    (("kind", "topic out"), ("name", "/chatter")))] == 1.0


def test_metrics_of_a_bridge_that_is_down_say_only_that():
    samples = _samples(bridge_exposition(unreachable("refused")))
    assert samples == {("overlay_bridge_up", ()): 0.0}
