"""Fleet history on the real components (root, Go-built tailscale/headscale, Debian's
prometheus): the monitor node of every robot serves metrics on its overlay address; the server
joins the overlay with the monitoring tag and runs the real Prometheus with the generated
config, targets from Headscale's node list and the generated alert rules. Its HTTP API shows
the lab's states (derp, then direct after the campus opens) and fires the offline alert."""
import os
import random
import shutil
import subprocess
import sys
import time

import pytest

from overlay_lab.runner import (
    lab_down,
    lab_up,
    restart_tailscaled,
    robot_exec_argv,
    stop_tailscaled,
    switch_campus,
)
from overlay_lab.services import prometheus_query
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("otm")
ROBOTS = ("r1", "r2", "r3")


@pytest.fixture(scope="module")
def fleet():
    real_components_preconditions()
    if shutil.which("prometheus") is None:
        skip_or_fail("prometheus not installed (Debian package prometheus; tools/setup.sh)")
    state = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="restrictive")).state
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(120, 200)))
    monitors = [subprocess.Popen(robot_exec_argv(state, robot, [
        sys.executable, "-m", "overlay_monitor.nodes.monitor_node", "--ros-args", "-p",
        "ping_period_s:=2.0", "-p", "full_period_s:=1.0"]), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for robot in ROBOTS]
    try:
        started = subprocess.run([*overlay_cli("overlay-lab"), "prometheus", "--prefix", PREFIX],
                                 capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        from overlay_lab.runner import require_state
        yield require_state(PREFIX)
    finally:
        for proc in monitors:
            proc.send_signal(2)
        for proc in monitors:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        lab_down(PREFIX)


def _query(state, promql):
    return prometheus_query(state, "/api/v1/query", promql)["data"]["result"]


def _until(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what} not seen within {timeout} s; last: {last}")


def _pairs_in(state, link_state):
    """(instance, peer) pairs between robots that Prometheus sees in ``link_state``."""
    robots = {r.tailscale_ips[0]: r.name for r in state.robots}
    pairs = set()
    for series in _query(state, f'overlay_peer_state{{state="{link_state}"}} == 1'):
        source = robots.get(series["metric"]["instance"].split(":")[0])
        if source and series["metric"]["peer"] in ROBOTS:
            pairs.add((source, series["metric"]["peer"]))
    return pairs


ALL_PAIRS = {(a, b) for a in ROBOTS for b in ROBOTS if a != b}


def test_prometheus_scrapes_every_robot_over_the_overlay(fleet):
    up = _until(lambda: [s for s in _query(fleet, 'up{job="overlay_robots"} == 1')]
                if len(_query(fleet, 'up{job="overlay_robots"} == 1')) == 3 else None,
                60, "3 robot exporters up")
    targets = {s["metric"]["instance"].split(":")[0] for s in up}
    assert targets == {r.tailscale_ips[0] for r in fleet.robots}  # overlay addresses only
    _until(lambda: _query(fleet, 'up{job="headscale"} == 1'), 60, "headscale's own metrics")
    durations = {s["metric"]["instance"]: float(s["value"][1])
                 for s in _query(fleet, 'scrape_duration_seconds{job="overlay_robots"}')}
    print("\n[prometheus] scrape duration per robot: "
          + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in sorted(durations.items())))


def test_prometheus_sees_derp_then_direct_after_the_campus_opens(fleet):
    switch_campus(PREFIX, "restrictive")
    _until(lambda: _pairs_in(fleet, "derp") == ALL_PAIRS or None, 90, "every pair derp")
    switch_campus(PREFIX, "open")
    try:
        _until(lambda: _pairs_in(fleet, "direct") == ALL_PAIRS or None, 120,
               "every pair direct after 'overlay-lab campus open'")
    finally:
        switch_campus(PREFIX, "restrictive")


def test_a_robot_going_offline_fires_the_offline_alert(fleet):
    stop_tailscaled(fleet, "r3")
    try:
        def firing():
            alerts = prometheus_query(fleet, "/api/v1/alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "OverlayPeerOffline"
                    and a["labels"].get("peer") == "r3" and a["state"] == "firing"] or None
        alerts = _until(firing, 150, "OverlayPeerOffline firing for r3")
        assert {a["labels"]["severity"] for a in alerts} == {"critical"}
    finally:
        restart_tailscaled(PREFIX, "r3")


def test_every_dashboard_query_evaluates_on_the_real_prometheus(fleet):
    from overlay_bringup.server.dashboard import PANEL_QUERIES
    for title, queries in PANEL_QUERIES.items():
        for expr, _ in queries:
            answer = prometheus_query(fleet, "/api/v1/query", expr)
            assert answer["status"] == "success", (title, expr, answer)
    matrix = _query(fleet, next(iter(PANEL_QUERIES.values()))[0][0])
    assert matrix and all(1 <= float(s["value"][1]) <= 5 for s in matrix), matrix


def test_fleet_report_draws_the_history_from_prometheus(fleet, tmp_path):
    from overlay_lab.services import PROMETHEUS_LISTEN
    from overlay_testing import overlay_cli
    out = tmp_path / "fleet-report"
    result = subprocess.run(["ip", "netns", "exec", fleet.server_namespace,
                             *overlay_cli("overlay-server"), "fleet-report", "--prometheus",
                             f"http://{PROMETHEUS_LISTEN}", "--out", str(out), "--hours",
                             "0.25"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("peer_states.png", "rtt.png", "derp_share.png"):
        assert (out / name).stat().st_size > 5000
    assert "robot-peer pairs" in (out / "index.html").read_text()
    if os.environ.get("OVERLAY_SAVE_FLEET_REPORT"):  # refresh the README's picture
        shutil.copy(out / "peer_states.png", os.environ["OVERLAY_SAVE_FLEET_REPORT"])
