"""The campus as it really is, on the real components (root, Go-built tailscale/headscale):

- ``--campus tcp443``: every UDP packet dropped, only TCP 443 to the server passes. Robots
  join, tailscale netcheck says UDP false, every pair goes through DERP, ROS messages cross, and
  the monitor warns "UDP blocked on this network" with the home region.
- a robot that ran ``tailscale logout`` joins again with its bundle (headscale >= 0.29.3,
  headscale#3371): Running again, same name, and r1's monitor sees it again.
- a tailscale older than the server accepts (1.78.3; headscale 0.29 needs 1.80) is named at
  once (exit 19), and the pinned tailscaled resumes afterwards.
"""
import json
import re
import subprocess
import time

import pytest

from overlay_bringup.components import old_tailscale
from overlay_lab import proc
from overlay_lab.paths import wait_path
from overlay_lab.ros_demo import talker_and_listeners
from overlay_lab.runner import lab_down, lab_up, restart_tailscaled, robot_exec_argv
from overlay_lab.services import bundle, ca_file
from overlay_lab.state import save_state
from overlay_lab.tailnet import join_argv, member_socket, start_tailscaled, tailscale_ips
from overlay_lab.topology import plan_lab
from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("ocp")


@pytest.fixture(scope="module")
def tcp443():
    real_components_preconditions()
    result = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="tcp443"))
    print("\njoin times on the tcp443 campus: " + ", ".join(
        f"{name} {t:.1f} s" for name, t in result.join_times_s.items()))
    yield result.state
    lab_down(PREFIX)


def _run(state, robot, argv, timeout=60):
    return subprocess.run(robot_exec_argv(state, robot, argv), capture_output=True, text=True,
                          timeout=timeout)


def test_tcp443_robots_join_and_netcheck_says_no_udp(tcp443):
    assert all(r.tailscale_ips for r in tcp443.robots)
    netcheck = _run(tcp443, "r1", ["tailscale", "netcheck"], timeout=90)
    print(f"\ntailscale netcheck on r1:\n{netcheck.stdout}")
    assert re.search(r"UDP:\s+false", netcheck.stdout), netcheck.stdout + netcheck.stderr


def test_tcp443_every_pair_goes_through_derp(tcp443):
    for source, target in (("r1", "r2"), ("r2", "r3"), ("r3", "r1")):
        via = wait_path(tcp443, source, tcp443.robot(target).overlay_ip, r"^DERP\(", 60)
        assert via.startswith("DERP(campus)"), via


def test_tcp443_ros_messages_cross(tcp443):
    results = talker_and_listeners(tcp443, duration_s=8.0)
    print(f"\nROS over the tcp443 campus: {results}")
    assert all(int(r["received"]) > 0 for r in results.values()), results


def test_tcp443_the_monitor_says_udp_is_blocked(tcp443):
    status = json.loads(_run(tcp443, "r1", [*overlay_cli("overlay-status"), "--json"]).stdout)
    assert status["udp"] is False and status["home_derp"] == "campus"
    report = _run(tcp443, "r1", [*overlay_cli("overlay-status"), "--report"])
    client = next(line for line in report.stdout.splitlines() if " client " in line)
    print(f"\noverlay-status --report on r1: {client}")
    assert client.startswith("WARN") and "UDP blocked on this network: every link goes " \
                                         "through DERP (region campus)" in client
    table = _run(tcp443, "r1", [*overlay_cli("overlay-status")])
    assert "UDP blocked: DERP only (campus)" in table.stdout


def test_a_logged_out_robot_joins_again_with_its_bundle(tcp443):
    """headscale#3371, fixed in 0.29.3: 'tailscale logout', then overlay-join with the same
    bundle, is Running again under the same name."""
    r2_ip = tcp443.robot("r2").overlay_ip
    assert _run(tcp443, "r2", ["tailscale", "logout"]).returncode == 0
    state = json.loads(_run(tcp443, "r2", ["tailscale", "status", "--json"]).stdout)
    assert state["BackendState"] == "NeedsLogin"
    team = bundle(PREFIX, tcp443.server_url, "lab")
    joined = _run(tcp443, "r2", join_argv(team, "r2"), timeout=120)
    assert joined.returncode == 0, joined.stderr[-800:]
    result = json.loads(joined.stdout)
    assert result["self"]["hostname"] == "r2" and result["action"] in ("up", "up --reset")
    ips = tailscale_ips(PREFIX, "r2")
    print(f"\nr2 after logout and rejoin: {result['action']}, {ips} (was {r2_ip})")
    seen = json.loads(_run(tcp443, "r1", [*overlay_cli("overlay-status"), "--json"]).stdout)
    r2 = [p for p in seen["peers"] if p["hostname"] == "r2"]
    assert r2 and ips[0] in r2[0]["ips"] and r2[0]["online"]


def test_a_login_server_name_that_does_not_resolve_is_named(tcp443):
    """The robot has no name server (the lab is sealed): a mistyped server name is DNS."""
    team = bundle(PREFIX, "https://headscale-typo.lab.example.edu", "lab")
    result = _run(tcp443, "r3", join_argv(team, "r3"), timeout=60)
    assert result.returncode == 11, result.stderr
    assert "the name 'headscale-typo.lab.example.edu' does not resolve on this machine" \
        in result.stderr


def test_a_tailscale_older_than_the_server_accepts_is_named_at_once(tcp443):
    """headscale 0.29 refuses clients below 1.80; tailscale shows only 'fetch control key: 400
    Bad Request' and would wait its whole timeout. r3 runs tailscale 1.78.3 (the old build
    tools/build_components.sh makes), then the pinned one again."""
    pair = old_tailscale()
    if pair is None:
        skip_or_fail("the old tailscale is not built (tools/build_components.sh)")
    old_cli, old_daemon = pair
    r3 = tcp443.robot("r3")
    proc.stop(r3.tailscaled_pid)
    r3.tailscaled_pid = start_tailscaled(PREFIX, "r3", r3.namespace, ca_file(PREFIX), old_daemon)
    save_state(tcp443)
    try:
        team = bundle(PREFIX, tcp443.server_url, "lab")
        started = time.monotonic()
        result = _run(tcp443, "r3", [*join_argv(team, "r3"), "--tailscale", str(old_cli)],
                      timeout=90)
        took = time.monotonic() - started
        print(f"\ntailscale 1.78.3 refused, named in {took:.1f} s: {result.stderr.strip()}")
        assert result.returncode == 19, result.stderr
        assert "the server refuses this machine's tailscale 1.78.3 as too old" in result.stderr
        assert took < 30  # named at once, not after join's 60 s timeout
    finally:
        restarted = restart_tailscaled(PREFIX, "r3")
        tcp443.robots[:] = restarted.robots
    with LocalAPIClient(str(member_socket(PREFIX, "r3"))) as client:
        deadline = time.monotonic() + 60
        while client.snapshot().backend_state != "Running" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.snapshot().backend_state == "Running"  # the pinned one resumes
