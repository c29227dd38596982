"""zenoh-bridge as a star on the real components: r3 runs the team's router (its configuration
from ``overlay-discovery zenoh-router``, run by the real zenohd), and the bridges of r1 and r2
connect to it alone (the inventory's ``bridge.router``). A talker on r1 reaches r2 through the
router; with the router stopped nothing crosses, because the bridges never dial each other."""
import json
import subprocess

import pytest

from overlay_bringup.components import find_component
from overlay_bringup.discovery.model import BridgePolicy
from overlay_bringup.discovery.zenoh_bridge import BRIDGE_PORT, ROUTER_CONFIG_FILE, bridge_zid
from overlay_lab import proc
from overlay_lab.paths import wait_path
from overlay_lab.ros_demo import chatter_argv, last_json_line, zenoh_bridges
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.state import lab_dir
from overlay_lab.topology import plan_lab
from overlay_testing import (
    lab_prefix,
    overlay_cli,
    real_components_preconditions,
    zenoh_preconditions,
)

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("ozs")
DOMAIN = 26


def _chatter(state, envs, seconds=8.0):
    listener = proc.spawn(chatter_argv(state, "r2", envs["r2"], "listen", "--duration",
                                       str(seconds + 2)), stderr=False)
    talker = proc.spawn(chatter_argv(state, "r1", envs["r1"], "talk", "--duration",
                                     str(seconds)), stderr=False)
    sent = last_json_line(talker.communicate(timeout=60)[0])
    return sent, last_json_line(listener.communicate(timeout=60)[0])


@pytest.fixture(scope="module")
def star():
    real_components_preconditions()
    zenoh_preconditions()
    state = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="open")).state
    for robot in ("r1", "r2"):  # a cold path takes seconds: the monitor waits 2 s at most
        wait_path(state, robot, state.robot("r3").overlay_ip, r"^\d+\.\d+\.\d+\.\d+:", 60)
    folder = lab_dir(PREFIX) / "router"
    made = subprocess.run(robot_exec_argv(state, "r3", [
        *overlay_cli("overlay-discovery"), "zenoh-router", "--out", str(folder)]),
        capture_output=True, text=True, timeout=60, env=proc.python_env())
    assert made.returncode == 0, made.stderr
    router = proc.start(robot_exec_argv(state, "r3", [str(find_component("zenohd")), "-c",
                                                      str(folder / ROUTER_CONFIG_FILE)]),
                        lab_dir(PREFIX) / "logs" / "router-r3.log")
    policy = BridgePolicy(router=f"{state.robot('r3').overlay_ip}:{BRIDGE_PORT}")
    envs, bridges = zenoh_bridges(state, ("r1", "r2"), DOMAIN, policy)
    try:
        yield state, envs, router, folder
    finally:
        proc.terminate([router.pid, *(b.pid for b in bridges)])
        lab_down(PREFIX)


def test_the_router_listens_on_its_overlay_address(star):
    state, _, _, folder = star
    config = json.loads((folder / ROUTER_CONFIG_FILE).read_text())
    assert config["listen"]["endpoints"] == [f"tcp/{state.robot('r3').overlay_ip}:{BRIDGE_PORT}"]


def test_the_monitor_reads_a_star_bridge(star):
    state, _, _, _ = star
    config = lab_dir(PREFIX) / "discovery" / "zenoh-bridge" / "r1" / "zenoh_bridge.json5"
    out = subprocess.run(robot_exec_argv(state, "r1", [*overlay_cli("overlay-status"), "--bridge",
                                                       str(config), "--json"]),
                         capture_output=True, text=True, timeout=60, env=proc.python_env())
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    me = bridge_zid(state.robot("r1").overlay_ip)
    assert status["zid"] == me  # its own bridge, found behind the router by its fixed id
    assert f"@/{me}/client" in status["replies"], sorted(status["replies"])
    client = status["replies"][f"@/{me}/client"]
    assert client["plugins"]["ros2dds"] and client["locators"] == []  # listens nowhere
    assert [s["whatami"] for s in client["sessions"]] == ["router"]  # connected to it alone

def test_messages_cross_through_the_router_and_stop_without_it(star):
    state, envs, router, _ = star
    sent, heard = _chatter(state, envs)
    print(f"\nthrough r3's router: {heard.get('received')}/{sent.get('sent')}")
    assert int(heard.get("received", 0)) >= int(sent["sent"]) // 2, (sent, heard)
    proc.stop(router.pid)
    sent, heard = _chatter(state, envs, seconds=6.0)
    print(f"router stopped: {heard.get('received')}/{sent.get('sent')}")
    assert heard.get("received") == 0, heard  # a star: the bridges never dial each other

