"""A campus where only a web proxy reaches the outside, on the real components (root, Go-built
tailscale/headscale, Debian's tinyproxy):

- ``--campus proxy``: robots reach nothing but the proxy host's port 3128; only the proxy
  reaches the server's 443. Robots join with ``overlay-join --proxy`` (tailscaled's
  environment file says HTTPS_PROXY, as the Ansible role writes it), every pair goes through
  DERP over the proxy, ROS messages cross, and the proxy's log shows the CONNECTs.
- a robot whose tailscaled runs without the proxy: ``overlay-join --proxy`` writes it, restarts
  tailscaled once and joins through it.
- the proxy down, or a wrong proxy URL: a named error at join (exit 18), nothing changed.
"""
import json
import subprocess

import pytest

from overlay_lab.paths import wait_path
from overlay_lab.ros_demo import talker_and_listeners
from overlay_lab.runner import lab_down, lab_up, restart_tailscaled, robot_exec_argv, set_proxy
from overlay_lab.services import bundle, lab_proxy_connects
from overlay_lab.tailnet import (
    join_argv,
    member_env_file,
    proxy_join_args,
    tailscale_ips,
    write_member_proxy,
)
from overlay_lab.topology import PROXY_IP, PROXY_PORT, PROXY_URL, SERVER_IP, plan_lab
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("opx")


@pytest.fixture(scope="module")
def campus():
    real_components_preconditions()
    result = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="proxy"))
    connects = lab_proxy_connects(PREFIX)
    robots = {r.underlay_ip: r.name for r in result.state.robots}
    per_robot = {name: sum(1 for client, _ in connects if client == ip)
                 for ip, name in robots.items()}
    print("\njoin times through the web proxy: " + ", ".join(
          f"{name} {t:.1f} s" for name, t in result.join_times_s.items())
          + f"; CONNECTs during the joins: {per_robot}")
    yield result.state
    lab_down(PREFIX)


def _run(state, robot, argv, timeout=60):
    return subprocess.run(robot_exec_argv(state, robot, argv), capture_output=True, text=True,
                          timeout=timeout)


def _join(state, robot, *extra):
    team = bundle(PREFIX, state.server_url, "lab")
    return _run(state, robot, join_argv(team, robot, *extra), timeout=120)


def test_robots_join_through_the_proxy_and_cannot_reach_the_server_without_it(campus):
    assert all(r.tailscale_ips for r in campus.robots)
    connects = lab_proxy_connects(PREFIX)
    fqdn = campus.server_url.split("//", 1)[1]
    for robot in campus.robots:
        asked = [target for client, target in connects if client == robot.underlay_ip]
        assert asked and set(asked) == {f"{fqdn}:443"}, (robot.name, connects)
    direct = _run(campus, "r1", ["curl", "-sS", "--max-time", "3", "-o", "/dev/null",
                                 f"https://{SERVER_IP}/health"])
    assert direct.returncode != 0  # the campus lets nothing but the proxy through
    env = member_env_file(PREFIX, "r1").read_text()
    assert f'HTTPS_PROXY="{PROXY_URL}"' in env


def test_every_pair_goes_through_derp_over_the_proxy(campus):
    for source, target in (("r1", "r2"), ("r2", "r3"), ("r3", "r1")):
        via = wait_path(campus, source, campus.robot(target).overlay_ip, r"^DERP\(", 60)
        assert via.startswith("DERP("), (source, target, via)
    for robot in campus.robots:  # DERP's TCP runs to the proxy, none to the server itself
        sockets = _run(campus, robot.name, ["ss", "-tnH", "state", "established"]).stdout
        assert f"{PROXY_IP}:{PROXY_PORT}" in sockets, (robot.name, sockets)
        assert f"{SERVER_IP}:443" not in sockets, (robot.name, sockets)


def test_ros_messages_cross_the_proxy_campus(campus):
    results = talker_and_listeners(campus, duration_s=8.0)
    print(f"\nROS over the proxy campus: {results}")
    assert all(int(r["received"]) >= 50 for r in results.values()), results


def test_the_monitor_says_udp_is_blocked_behind_the_proxy(campus):
    status = json.loads(_run(campus, "r1", [*overlay_cli("overlay-status"), "--json"]).stdout)
    assert status["udp"] is False and status["home_derp"] == "campus"


def test_a_tailscaled_without_the_proxy_gets_it_and_one_restart(campus):
    write_member_proxy(PREFIX, "r2", "none")
    restart_tailscaled(PREFIX, "r2")  # r2's tailscaled now runs without a proxy: cut off
    before = len(lab_proxy_connects(PREFIX))
    joined = _join(campus, "r2", *proxy_join_args(campus, "r2"))
    assert joined.returncode == 0, joined.stderr
    result = json.loads(joined.stdout)
    assert result["changed"] and "restarted tailscaled" in result["proxy"]
    assert f"wrote proxy {PROXY_URL}" in result["proxy"]
    assert result["backend_state"] == "Running" and result["self"]["hostname"] == "r2"
    assert len(lab_proxy_connects(PREFIX)) > before  # control and DERP went through it again
    again = _join(campus, "r2", *proxy_join_args(campus, "r2"))
    assert again.returncode == 0 and not json.loads(again.stdout)["changed"]
    assert tailscale_ips(PREFIX, "r2") == campus.robot("r2").tailscale_ips


def test_a_proxy_that_is_down_is_named_at_join(campus):
    set_proxy(PREFIX, False)
    try:
        result = _join(campus, "r3", *proxy_join_args(campus, "r3"))
    finally:
        set_proxy(PREFIX, True)
    assert result.returncode == 18, result.stderr
    assert f"the web proxy {PROXY_URL} cannot be reached" in result.stderr


def test_a_wrong_proxy_url_is_named_at_join(campus):
    args = proxy_join_args(campus, "r3")
    wrong = PROXY_URL.replace("3128", "3129")  # the campus lets only 3128 through
    args[args.index(PROXY_URL)] = wrong
    before = member_env_file(PREFIX, "r3").read_text()
    result = _join(campus, "r3", *args)
    assert result.returncode == 18, result.stderr
    assert f"the web proxy {wrong} did not answer" in result.stderr
    assert member_env_file(PREFIX, "r3").read_text() == before  # nothing written
