"""The lab on the real components (root, Go-built tailscale/headscale): headscale with its
embedded DERP and STUN in a server namespace, a real tailscaled per robot joined with
overlay-join, the campus switched between restrictive and open under a running monitor.

Every pair's state as the monitor reads it is compared with what tailscale itself says
(`tailscale status --json`, `tailscale ping`)."""
import json
import random
import re
import subprocess
import sys
import time

import pytest
from lab_probes import keep_talking, monitor_and_probe, monitor_view, run_in, tailscale_view

from overlay_lab.runner import (
    lab_down,
    lab_up,
    restart_tailscaled,
    robot_exec_argv,
    stop_tailscaled,
    switch_campus,
)
from overlay_lab.services import api_key_file, inventory_file, server_out
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("ots")


@pytest.fixture(scope="module")
def ts_lab():
    real_components_preconditions()
    result = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="restrictive"))
    yield result
    lab_down(PREFIX)


def _ping_paths(state, source, until_direct):
    """`tailscale ping` from ``source`` to every other robot: {peer: 'via …' text}."""
    paths = {}
    for robot in state.robots:
        if robot.name == source:
            continue
        argv = ["tailscale", "ping", "-c", "15" if until_direct else "2"]
        if not until_direct:
            argv.append("--until-direct=false")
        out = run_in(state, source, [*argv, robot.tailscale_ips[0]]).stdout
        vias = re.findall(r"via (\S+)", out)
        paths[robot.name] = vias[-1] if vias else out.strip()
    return paths


def test_lab_joined_every_robot_with_overlay_join_through_the_real_server(ts_lab):
    state = ts_lab.state
    assert state.overlay == "tailscale" and state.server_url.startswith("https://")
    assert set(ts_lab.join_times_s) == {"r1", "r2", "r3"}
    assert all(0 < t < 60 for t in ts_lab.join_times_s.values())
    ips = [r.tailscale_ips[0] for r in state.robots]
    assert len(set(ips)) == 3 and all(ip.startswith("100.64.") for ip in ips)
    # overlay-join installed the guard route, as on a real robot
    route = subprocess.run(["ip", "-n", state.robot("r1").namespace, "route", "show", "type",
                            "unreachable"], capture_output=True, text=True).stdout
    assert "100.64.0.0/10" in route and "metric 4000" in route
    # nothing calls home: the policy's nodeAttrs turn captive-portal probes off, auto-update off
    caps = json.loads(run_in(state, "r1", ["tailscale", "status", "--json"]).stdout)["Self"]["CapMap"]
    assert "disable-captive-portal-detection" in caps and caps.get("default-auto-update") == [False]
    assert "debug-always-stun" in caps  # netcheck keeps running while idle (UDP check, roaming)


def test_restrictive_campus_every_pair_is_derp_as_tailscale_says(ts_lab):
    state = switch_campus(PREFIX, "restrictive")
    for robot in state.robots:
        paths = _ping_paths(state, robot.name, until_direct=False)
        assert set(paths.values()) == {"DERP(campus)"}, paths
        truth, seen = tailscale_view(state, robot.name), monitor_view(state, robot.name)
        for peer, (kind, _, relay) in truth.items():
            assert kind == "derp" and relay == "campus", (robot.name, peer, truth)
            assert seen[peer]["state"] == "derp" and seen[peer]["derp_region"] == "campus"
            assert seen[peer]["endpoint"] == ""


def test_open_campus_every_pair_goes_direct_as_tailscale_says(ts_lab):
    switched = subprocess.run([*overlay_cli("overlay-lab"), "campus", "open", "--prefix", PREFIX],
                              capture_output=True, text=True, timeout=60)
    assert switched.returncode == 0 and "campus open" in switched.stdout, switched.stderr
    state = ts_lab.state
    try:
        for robot in state.robots:
            paths = _ping_paths(state, robot.name, until_direct=True)
            assert all(re.match(r"198\.18\.\d+\.2:41641", p) for p in paths.values()), paths
            truth, seen = tailscale_view(state, robot.name), monitor_view(state, robot.name)
            for peer, (kind, cur_addr, _) in truth.items():
                assert kind == "direct", (robot.name, peer, truth)
                assert seen[peer]["state"] == "direct" and seen[peer]["endpoint"] == cur_addr
                assert paths[peer] == cur_addr
    finally:
        switch_campus(PREFIX, "restrictive")


@pytest.fixture
def monitored(ts_lab):
    """The monitor node in r1 (poll 0.5 s) and a subscriber to its topics, in r1 too."""
    with monitor_and_probe(ts_lab.state, "r1") as probe:
        yield ts_lab.state, probe


def test_campus_switch_shows_on_status_and_events(monitored):
    state, lines = monitored
    pingers = keep_talking(state, 90)
    try:
        switch_campus(PREFIX, "restrictive")
        lines.until(lambda r: r.get("status", {}).get("r2") == "derp", 40)
        start = time.time()
        switch_campus(PREFIX, "open")
        lines.until(lambda r: r.get("event", [None])[1:] == ["r2", "derp", "direct"], 60)
        to_direct = time.time() - start
        start = time.time()
        switch_campus(PREFIX, "restrictive")
        lines.until(lambda r: r.get("event", [None])[1:] == ["r2", "direct", "derp"], 60)
        to_derp = time.time() - start
        lines.until(lambda r: r.get("status", {}).get("r2") == "derp", 5)
    finally:
        switch_campus(PREFIX, "restrictive")
        for proc in pingers:
            proc.kill()
    print(f"campus switch on ~/events: derp->direct {to_direct:.2f} s, "
          f"direct->derp {to_derp:.2f} s")


def test_monitor_survives_tailscaled_stopping_and_recovers(monitored):
    state, lines = monitored
    lines.until(lambda r: r.get("reachable") is True, 30)
    stop_tailscaled(state, "r1")
    try:
        lines.until(lambda r: r.get("reachable") is False, 15)
        stale = lines.until(lambda r: "diag" in r and any(
            level >= 2 for level in r["diag"].values()), 15)
        assert stale["diag"]  # STALE (3) or ERROR (2) while tailscaled is gone
    finally:
        restart_tailscaled(PREFIX, "r1")
    lines.until(lambda r: r.get("reachable") is True and r.get("status"), 40)
    assert lines.proc.poll() is None


def _capture(namespace, interface, out_path, bpf=()):
    return subprocess.Popen(["ip", "netns", "exec", namespace, "tcpdump", "-l", "-n", "-A", "-i",
                             interface, *bpf], stdout=out_path.open("w"),
                            stderr=subprocess.DEVNULL)


def _stop_captures(captures):
    time.sleep(0.5)
    for capture in captures:
        capture.terminate()
        capture.wait(timeout=10)


@pytest.mark.parametrize("campus", ["restrictive", "open"])
def test_router_sees_no_plaintext_only_wireguard_derp_tls_and_stun(ts_lab, tmp_path, campus):
    state = switch_campus(PREFIX, campus)
    marker = f"OVERLAY-PLAINTEXT-MARKER-{campus}"
    r2 = state.robot("r2")
    _ping_paths(state, "r1", until_direct=campus == "open")
    router, tunnel, reached = (tmp_path / "router.txt", tmp_path / "tunnel.txt",
                               tmp_path / "reached.txt")
    captures = [_capture(state.router_namespace, "any", router),
                _capture(r2.namespace, "tailscale0", tunnel),
                _capture(r2.namespace, "eth0", reached, ["udp"])]
    time.sleep(1.5)
    sender = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              f"for _ in range(20):\n s.sendto(b'{marker}', ('{r2.tailscale_ips[0]}', 9));"
              " time.sleep(0.02)\n")
    subprocess.run(robot_exec_argv(state, "r1", [sys.executable, "-c", sender]), check=True,
                   timeout=30)
    _stop_captures(captures)
    seen_router = router.read_text(errors="replace")
    assert marker in tunnel.read_text(errors="replace"), "the marker did not cross the overlay"
    assert marker not in seen_router, "plaintext on the campus network"
    packets = [line for line in seen_router.splitlines() if " IP " in line]
    assert packets, "nothing captured on the router"
    allowed = (".443 ", ".443:", ".3478 ", ".3478:", ".41641 ", ".41641:")
    assert all(any(a in line for a in allowed) for line in packets), \
        [p for p in packets if not any(a in p for a in allowed)][:5]
    if campus == "restrictive":
        # tailscaled keeps trying direct paths; the router drops them, so nothing from another
        # robot reaches r2: everything came through DERP (TLS on 443)
        arrived = [line for line in reached.read_text(errors="replace").splitlines()
                   if " IP 198.18." in line and " > 198.18.2.2" in line]
        assert arrived == [], arrived[:5]


def _chatter_env(state, robot):
    from overlay_lab.ros_demo import discovery_env
    return discovery_env(state, robot, "fastdds-peers", domain_id=random.randint(1, 100))


def test_wide_open_router_still_carries_no_ros_packet_outside_the_tunnel(ts_lab, tmp_path):
    from overlay_lab.ros_demo import chatter_argv

    state = switch_campus(PREFIX, "open")
    subprocess.run(["ip", "netns", "exec", state.router_namespace, "nft", "add", "rule", "inet",
                    "overlay_lab", "campus", "accept"], check=True)   # everything passes
    router = tmp_path / "router.txt"
    capture = _capture(state.router_namespace, "any", router)
    domain = str(random.randint(1, 100))
    envs = {r: {**_chatter_env(state, r), "ROS_DOMAIN_ID": domain} for r in ("r1", "r2")}
    try:
        listener = subprocess.Popen(chatter_argv(state, "r2", envs["r2"], "listen", "--duration",
                                                 "10"), stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        subprocess.run(chatter_argv(state, "r1", envs["r1"], "talk", "--duration", "9"),
                       capture_output=True, timeout=60)
        result = json.loads(listener.communicate(timeout=60)[0].strip().splitlines()[-1])
    finally:
        _stop_captures([capture])
        switch_campus(PREFIX, "restrictive")
    assert result["received"] > 0, result
    packets = [line for line in router.read_text(errors="replace").splitlines() if " IP " in line]
    outside = [p for p in packets if not any(a in p for a in (".443", ".3478", ".41641"))]
    assert packets and outside == [], outside[:5]


def test_stopping_tailscaled_under_a_talker_leaks_nothing_in_clear_text(ts_lab, tmp_path):
    from overlay_lab.ros_demo import chatter_argv

    state = ts_lab.state
    r1 = state.robot("r1")
    leak = tmp_path / "leak.txt"
    env = _chatter_env(state, "r1")
    talker = subprocess.Popen(chatter_argv(state, "r1", env, "talk", "--duration", "14"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pinger = subprocess.Popen(robot_exec_argv(state, "r1", [
        "ping", "-q", "-i", "0.2", "-w", "12", state.robot("r2").tailscale_ips[0]]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        capture = _capture(r1.namespace, "eth0", leak, ["dst", "net", "100.64.0.0/10"])
        time.sleep(0.5)
        stop_tailscaled(state, "r1")
        time.sleep(5)
        _stop_captures([capture])
    finally:
        restart_tailscaled(PREFIX, "r1")
        talker.wait(timeout=60)
        pinger.wait(timeout=60)
    leaked = [line for line in leak.read_text(errors="replace").splitlines() if " IP " in line]
    assert leaked == [], leaked[:5]


def test_server_serves_health_and_only_the_inventory_derp_region(ts_lab):
    state = ts_lab.state
    derp_map = json.loads(run_in(state, "r1", ["tailscale", "debug", "derp-map"]).stdout)
    regions = derp_map["Regions"]
    assert list(regions) == ["999"], regions   # no public DERP region at all
    region = regions["999"]
    assert (region["RegionCode"], region["RegionName"]) == ("campus", "Campus embedded relay")
    assert [n["HostName"] for n in region["Nodes"]] == ["headscale.lab.example.edu"]
    assert region["Nodes"][0]["STUNPort"] == 3478
    ca = server_out(PREFIX) / "tls" / "ca.crt"
    health = subprocess.run(["ip", "netns", "exec", state.robot("r1").namespace, "curl", "-sS",
                             "--cacert", str(ca), f"{state.server_url}/health"],
                            capture_output=True, text=True, timeout=30)
    assert json.loads(health.stdout) == {"status": "pass"}, health


def test_second_apply_on_the_real_server_changes_nothing(ts_lab):
    state = ts_lab.state
    out = server_out(PREFIX)
    argv = ["ip", "netns", "exec", state.server_namespace, *overlay_cli("overlay-server"),
            "apply", "--inventory", str(inventory_file(PREFIX)), "--url",
            state.server_url, "--api-key-file", str(api_key_file(PREFIX)),
            "--ca-file", str(out / "tls" / "ca.crt"), "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "nothing to change: the server matches the inventory" in result.stdout
    assert "kept: policy (unchanged)" in result.stdout and "changed:" not in result.stdout
    api_key = api_key_file(PREFIX).read_text().strip()
    assert api_key not in result.stdout + result.stderr
    status = subprocess.run([*argv[:argv.index("apply")], "status", "--url", state.server_url,
                             "--api-key-file", str(api_key_file(PREFIX)),
                             "--ca-file", str(out / "tls" / "ca.crt"), "--json"],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    nodes = {n["name"]: n for n in json.loads(status.stdout)}
    assert {"r1", "r2", "r3"} <= set(nodes)
    assert all(nodes[r]["online"] and nodes[r]["tags"] == ["tag:lab"] for r in ("r1", "r2", "r3"))
    assert api_key not in status.stdout + status.stderr
