"""The zenoh-bridge mode: the generated zenohd configuration (nodes on the robot only, the
bridge on the overlay only, what crosses), its policy file, the version check, and a dry start
of the real zenohd with the ros2dds plugin on the generated configuration."""
import json
import os
import re
import subprocess
import time

import pytest

from overlay_bringup.components import find_component, zenoh_mismatch
from overlay_bringup.discovery import DiscoveryRequest, generate
from overlay_bringup.discovery.files import read_env, write_config
from overlay_bringup.discovery.model import BridgePolicy
from overlay_bringup.discovery.policy_file import load_policy
from overlay_bringup.discovery.zenoh_bridge import (
    BRIDGE_CONFIG_FILE,
    BRIDGE_CYCLONE_FILE,
    ROUTER_CONFIG_FILE,
)
from overlay_monitor.bridge import bridge_target
from overlay_monitor.errors import InputError
from overlay_testing import overlay_cli, skip_or_fail, zenoh_preconditions

ME, PEERS = "100.64.0.1", ("100.64.0.1", "100.64.0.2", "100.64.0.3")


def _config(policy=None, peers=PEERS, me=ME, domain=7, plugin_dir=""):
    config = generate(DiscoveryRequest("zenoh-bridge", me, peers, domain_id=domain,
                                       bridge=policy or BridgePolicy(),
                                       bridge_plugin_dir=plugin_dir))
    return config, json.loads(config.files[BRIDGE_CONFIG_FILE])


def test_nodes_stay_on_the_robot_and_the_bridge_on_the_overlay():
    config, zenohd = _config()
    assert config.env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert config.env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert "FASTRTPS_DEFAULT_PROFILES_FILE" not in config.env  # Fast DDS defaults: shared memory
    assert zenohd["listen"]["endpoints"] == ["tcp/100.64.0.1:7447"]
    assert zenohd["connect"]["endpoints"] == ["tcp/100.64.0.2:7447", "tcp/100.64.0.3:7447"]
    assert zenohd["scouting"] == {"multicast": {"enabled": False}, "gossip": {"enabled": False}}
    plugin = zenohd["plugins"]["ros2dds"]
    assert plugin["domain"] == 7 and plugin["ros_automatic_discovery_range"] == "LOCALHOST"
    assert "allow" not in plugin and "deny" not in plugin  # no policy: every name crosses
    assert '<NetworkInterface address="127.0.0.1"/>' in config.files[BRIDGE_CYCLONE_FILE]
    assert config.restart_needed_on_peer_change is False


def test_the_policy_decides_what_crosses():
    allow = BridgePolicy(rule="allow", topics=("/chatter", "/camera/.*"), services=("/map",),
                         max_rates=(("/camera/.*", 5.0),), namespace="/r1")
    plugin = _config(allow)[1]["plugins"]["ros2dds"]
    assert plugin["allow"] == {"publishers": ["/chatter", "/camera/.*"],
                               "subscribers": ["/chatter", "/camera/.*"],
                               "service_servers": ["/map"], "service_clients": ["/map"]}
    assert plugin["pub_max_frequencies"] == ["/camera/.*=5"] and plugin["namespace"] == "/r1"
    deny = _config(BridgePolicy(rule="deny", topics=("/secret",)))[1]["plugins"]["ros2dds"]
    assert deny["deny"] == {"publishers": ["/secret"], "subscribers": ["/secret"]}
    nothing, _ = _config(BridgePolicy(rule="allow"))
    assert "the allow list is empty: nothing crosses the overlay" in nothing.notes


def test_a_star_connects_to_the_router_only_as_a_client_with_a_fixed_id():
    zenohd = _config(BridgePolicy(router="100.64.0.9:7447"))[1]
    assert zenohd["connect"]["endpoints"] == ["tcp/100.64.0.9:7447"]
    assert zenohd["mode"] == "client" and zenohd["listen"]["endpoints"] == []
    assert re.fullmatch(r"1[0-9a-f]{31}", zenohd["id"])
    assert _config(BridgePolicy(router="100.64.0.9:7447"))[1]["id"] == zenohd["id"]
    assert _config(BridgePolicy(router="100.64.0.9:7447"), me="100.64.0.2")[1]["id"] != \
        zenohd["id"]
    target = bridge_target(json.dumps(zenohd))
    assert target.endpoint == "tcp/100.64.0.9:7447" and target.zid == zenohd["id"]
    assert "id" not in _config()[1] and bridge_target(json.dumps(_config()[1])).zid == ""


@pytest.mark.parametrize("policy, message", [
    (BridgePolicy(rule="maybe"), "bridge rule 'maybe' is not allow or deny"),
    (BridgePolicy(topics=("/a(",)), "bridge pattern '/a(' is not a regular expression"),
    (BridgePolicy(max_rates=(("/cam", 0.0),)), "bridge max rate 0 Hz for '/cam' is out of range"),
    (BridgePolicy(namespace="r1"), "bridge namespace 'r1' is not a ROS namespace"),
    (BridgePolicy(router="100.64.0.9"), "bridge router '100.64.0.9' is not IP:PORT"),
])
def test_bad_policies_are_named(policy, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        _config(policy)


def test_the_policy_file_puts_the_robot_in_the_namespace(tmp_path):
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps({"rule": "allow", "topics": ["/chatter"],
                                "max_rates": {"/camera/.*": 5}, "namespace": "/{robot}"}))
    policy = load_policy(path, "r2")
    assert policy == BridgePolicy(rule="allow", topics=("/chatter",),
                                  max_rates=(("/camera/.*", 5.0),), namespace="/r2")
    path.write_text(json.dumps({"rule": "allow", "topic": ["/x"]}))
    with pytest.raises(InputError, match="unknown bridge policy field"):
        load_policy(path)
    path.write_text(json.dumps({"topics": "/chatter"}))
    with pytest.raises(InputError, match="topics must be a list of regular expressions"):
        load_policy(path)


def test_a_zenohd_and_plugin_of_different_builds_are_named():
    version = "zenohd v1.10.2 built with rustc 1.95.0 (59807616e 2026-04-14)"
    assert zenoh_mismatch(version, "zenoh=1.10.2 rustc=1.95.0 (59807616e 2026-04-14)\n") == ""
    problem = zenoh_mismatch(version, "zenoh=1.9.0 rustc=1.95.0")
    assert "ros2dds plugin is 1.9.0" in problem and "tools/build_zenoh.sh" in problem
    assert "rustc 1.94.0" in zenoh_mismatch(version, "zenoh=1.10.2 rustc=1.94.0")


def _dry_start(tmp_path, config):
    """zenohd on ``config`` in a network namespace of its own; its log once the plugin ran or
    the process ended."""
    write_config(config, tmp_path)
    env = dict(os.environ, RUST_LOG="info", **read_env((tmp_path / "env.bridge").read_text()))
    zenohd = str(find_component("zenohd"))
    proc = subprocess.Popen(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                             zenohd, "-c", str(tmp_path / BRIDGE_CONFIG_FILE)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline, lines = time.monotonic() + 20, []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "ROS2 plugin Config" in line or "rror" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
    return "".join(lines) + rest


def test_the_generated_configuration_loads_in_the_real_zenohd(tmp_path):
    if os.geteuid() != 0:
        skip_or_fail("the dry start needs root")
    _, plugins = zenoh_preconditions()
    policy = BridgePolicy(rule="allow", topics=("/chatter",), max_rates=(("/chatter", 5.0),),
                          namespace="/r1")
    config, _ = _config(policy, peers=("127.0.0.1", "127.0.0.2"), me="127.0.0.1",
                        plugin_dir=str(plugins))
    log = _dry_start(tmp_path / "good", config)
    assert "ROS2 plugin Config" in log and "namespace: \"/r1\"" in log, log[-2000:]
    assert "rror" not in log.split("ROS2 plugin Config")[0], log[-2000:]
    # the same file with a field the plugin does not know: zenohd's own parser refuses it
    broken = json.loads(config.files[BRIDGE_CONFIG_FILE])
    broken["plugins"]["ros2dds"]["allowed"] = {}
    config.files[BRIDGE_CONFIG_FILE] = json.dumps(broken)
    refused = _dry_start(tmp_path / "bad", config)
    assert "unknown field `allowed`" in refused, refused[-2000:]


def test_the_star_router_configuration_starts_the_real_zenohd(tmp_path):
    """overlay-discovery zenoh-router's file, run by the real zenohd (in a network namespace of
    its own, on loopback): it listens where it says, as a router."""
    if os.geteuid() != 0:
        skip_or_fail("the dry start needs root")
    zenoh_preconditions()
    out = subprocess.run([*overlay_cli("overlay-discovery"), "zenoh-router", "--self",
                          "127.0.0.1", "--port", "7448", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    config = tmp_path / ROUTER_CONFIG_FILE
    assert json.loads(config.read_text())["mode"] == "router"
    zenohd = str(find_component("zenohd"))
    proc = subprocess.Popen(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                             zenohd, "-c", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, RUST_LOG="info"))
    lines = []
    try:
        deadline = time.monotonic() + 20
        for line in proc.stdout:
            lines.append(line)
            if "can be reached at" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    log = "".join(lines)
    assert "Zenoh can be reached at: tcp/127.0.0.1:7448" in log, log[-2000:]
    assert "rror" not in log, log[-2000:]


def test_a_router_port_out_of_range_is_refused(tmp_path):
    out = subprocess.run([*overlay_cli("overlay-discovery"), "zenoh-router", "--self",
                          "100.64.0.9", "--port", "80", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "port 80 is out of range (expected 1024..65535)" in out.stderr
    assert not (tmp_path / ROUTER_CONFIG_FILE).exists()
