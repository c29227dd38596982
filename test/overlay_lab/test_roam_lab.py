"""Roaming on the real components: `overlay-lab roam r2 --subnet` moves r2 to another campus
subnet under its running tailscaled, as a Wi-Fi hand-over does. Measured (printed, not
asserted against a clock): the time to the first packet across again and, on the open campus,
to a direct path again; the ROS messages lost during a roam. The monitor names the roam as an
"endpoint" event, on r1 for peer r2 and on r2 for itself, and counts it in Prometheus."""
import re
import subprocess
import time

import pytest

from overlay_lab.paths import wait_path
from overlay_lab.ros_demo import chatter_argv, discovery_env, last_json_line
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv, switch_campus
from overlay_lab.tailnet import member_socket
from overlay_lab.topology import plan_lab
from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.metrics import exposition
from overlay_monitor.monitor import MonitorConfig, OverlayMonitor
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("orm")
FIGURES: dict[str, str] = {}


@pytest.fixture(scope="module")
def lab():
    real_components_preconditions()
    state = lab_up(plan_lab(2, PREFIX, overlay="tailscale", campus="open")).state
    yield state
    lab_down(PREFIX)
    print("\nroaming figures: " + "; ".join(f"{k}: {v}" for k, v in FIGURES.items()))


def _roam():
    result = subprocess.run([*overlay_cli("overlay-lab"), "roam", "r2", "--subnet", "--prefix",
                             PREFIX], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return re.search(r"roamed (\S+) -> (\S+)", result.stdout).groups()


def _pinger(state, target_ip):
    """ICMP over the overlay from r1 every 0.1 s, each reply with its wall-clock time (-D)."""
    return subprocess.Popen(robot_exec_argv(state, "r1", [
        "ping", "-D", "-i", "0.1", "-W", "1", "-w", "40", target_ip]),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _outage_after(output, t0):
    """Seconds from the roam to the reply that ends the longest silence after it (0 when the
    replies never paused for more than 0.3 s); None when no reply came after the roam."""
    times = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\] .*icmp_seq", output, re.M)]
    before = [t for t in times if t <= t0]
    after = [t for t in times if t > t0]
    if not after:
        return None
    edges = ([before[-1]] if before else [t0]) + after
    gap, end = max((b - a, b) for a, b in zip(edges, edges[1:], strict=False))
    return 0.0 if gap <= 0.3 else end - t0


def _monitor(state, robot):
    return OverlayMonitor(LocalAPIClient(str(member_socket(PREFIX, robot))),
                          MonitorConfig(ping_period_s=0))


@pytest.mark.parametrize("campus", ["open", "restrictive"])
def test_a_roam_recovers_and_the_monitors_name_it(lab, campus):
    switch_campus(PREFIX, campus)
    r2_ip = lab.robot("r2").overlay_ip
    pattern = r"^\d+\.\d+\.\d+\.\d+:\d+$" if campus == "open" else r"^DERP\("
    wait_path(lab, "r1", r2_ip, pattern, 60)
    on_r1, on_r2 = _monitor(lab, "r1"), _monitor(lab, "r2")
    try:
        on_r1.poll()
        on_r2.poll()
        pinger = _pinger(lab, r2_ip)
        time.sleep(2.0)
        t0 = time.time()
        old, new = _roam()
        direct_s = None
        if campus == "open":
            via = wait_path(lab, "r1", r2_ip, rf"^{re.escape(new)}:\d+$", 60)
            direct_s = time.time() - t0
            assert via.startswith(new)
        time.sleep(3.0)
        pinger.terminate()
        output, _ = pinger.communicate(timeout=10)
        back_s = _outage_after(output, t0)
        assert back_s is not None, output[-800:]
        events_r1 = [e for e in on_r1.poll().events if e.kind == "endpoint"]
        deadline = time.monotonic() + 30
        events_r2 = []
        while not events_r2 and time.monotonic() < deadline:
            events_r2 = [e for e in on_r2.poll().events if e.kind == "endpoint"]
            time.sleep(0.5)
        FIGURES[f"{campus}: first packet across again"] = f"{back_s:.2f} s"
        if direct_s is not None:
            FIGURES[f"{campus}: direct again (via {new})"] = f"{direct_s:.1f} s"
        assert events_r2 and new in events_r2[0].new_state and old in events_r2[0].old_state
        assert "this machine's endpoint changed" in events_r2[0].message
        if campus == "open":  # on r1, r2's direct endpoint moved
            assert any(e.peer == "r2" and new in e.new_state for e in events_r1), events_r1
            text = exposition(on_r1.poll().snapshot, events_r1)
            assert 'overlay_roams_total{peer="r2"} 1.0' in text
    finally:
        on_r1.close()
        on_r2.close()


@pytest.mark.parametrize("campus", ["open", "restrictive"])
def test_ros_messages_lost_during_a_roam(lab, campus):
    switch_campus(PREFIX, campus)
    envs = {r: discovery_env(lab, r, domain_id=71) for r in ("r1", "r2")}
    listener = subprocess.Popen(chatter_argv(lab, "r2", envs["r2"], "listen", "--duration", "24",
                                             "--times"),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    talker = subprocess.Popen(chatter_argv(lab, "r1", envs["r1"], "talk", "--duration", "21",
                                           "--rate", "10"), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    time.sleep(11.0)  # discovery over DERP at start-up takes up to ~7 s: the stream runs first
    roamed_at = time.time()
    _roam()
    sent = last_json_line(talker.communicate(timeout=60)[0])
    heard = last_json_line(listener.communicate(timeout=60)[0])
    assert int(heard.get("received", 0)) > 0, (sent, heard)
    assert heard["first_wall"] < roamed_at, ("the stream began only after the roam", heard)
    # lost during the roam: the sequence numbers missing between the first and the last arrival
    # (the messages before the first arrival are discovery at start-up, not the roam)
    lost = heard["last_seq"] - heard["first_seq"] + 1 - heard["received"]
    arrivals = heard["arrivals_s"]
    silence = max((b - a for a, b in zip(arrivals, arrivals[1:], strict=False)), default=0.0)
    FIGURES[f"ROS 10 Hz across a roam ({campus})"] = (
        f"{heard['received']}/{sent.get('sent')} delivered, {lost} lost after the first arrival, "
        f"longest silence {silence:.1f} s")
    assert heard["last_seq"] >= sent["sent"] - 20, (sent, heard)  # delivery resumed
