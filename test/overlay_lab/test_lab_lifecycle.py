"""Building, impairing and removing labs (root; runs in CI)."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from overlay_lab.impairments import parse_impairments
from overlay_lab.overlays.wireguard import WIREGUARD_SOCKET_DIR
from overlay_lab.reachability import ping_in_namespace
from overlay_lab.runner import (
    OVERLAY_TOOLS,
    lab_down,
    lab_namespaces,
    lab_up,
    require_root_and_tools,
)
from overlay_lab.state import lab_dir, state_path
from overlay_lab.topology import Overlay, plan_lab
from overlay_monitor.errors import LabError
from overlay_testing import lab_preconditions, lab_prefix, overlay_cli, real_components_preconditions

P_OVC = lab_prefix("ovc")
P_OVH = lab_prefix("ovh")
P_OVI = lab_prefix("ovi")
P_OVD = lab_prefix("ovd")



def test_lab_refuses_clearly_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root.*sudo"):
        require_root_and_tools()


def test_lab_refuses_clearly_without_wireguard_go(monkeypatch, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the root check comes first")
    for tool in ("ip", "nft", "wg"):
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                              text=True).stdout.strip()
        if real:
            (tmp_path / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match="missing wireguard-go: install the Debian package"):
        require_root_and_tools(OVERLAY_TOOLS[Overlay.WIREGUARD])


@pytest.mark.lab
def test_lab_down_removes_everything_even_after_a_crash():
    lab_preconditions()
    state = lab_up(plan_lab(2, P_OVC)).state
    pids = [r.wireguard_go_pid for r in state.robots]
    # simulate a crash: one wireguard-go killed hard, the state file gone
    os.kill(pids[0], signal.SIGKILL)
    state_path(P_OVC).unlink()
    result = subprocess.run([*overlay_cli("overlay-lab"), "down", "--prefix", P_OVC],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert lab_namespaces(P_OVC) == []
    assert not lab_dir(P_OVC).exists()
    assert list(WIREGUARD_SOCKET_DIR.glob(f"{P_OVC}wg*.sock")) == []
    assert not any(Path("/etc/netns").glob(f"{P_OVC}-*"))
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    again = subprocess.run([*overlay_cli("overlay-lab"), "down", "--prefix", P_OVC],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "nothing to remove" in again.stdout


@pytest.mark.lab
def test_lab_half_built_is_cleaned_by_the_next_up():
    lab_preconditions()
    subprocess.run(["ip", "netns", "add", f"{P_OVH}-r1"], check=True)  # a crashed run's leftover
    try:
        state = lab_up(plan_lab(2, P_OVH)).state
        assert ping_in_namespace(state.robots[0].namespace, state.robots[1].overlay_ip,
                                 count=2).received == 2
    finally:
        lab_down(P_OVH)
    assert lab_namespaces(P_OVH) == []


@pytest.mark.lab
def test_lab_impairments_delay_and_loss_reach_the_overlay():
    lab_preconditions()
    plan = plan_lab(3, P_OVI, parse_impairments(["r2:delay=15ms", "r3:loss=30%"]))
    try:
        state = lab_up(plan).state
        r1 = state.robot("r1")
        delayed = ping_in_namespace(r1.namespace, state.robot("r2").overlay_ip, count=5)
        assert delayed.received == 5
        assert delayed.min_ms >= 30.0  # 15 ms each way on r2's link
        r3_ip = state.robot("r3").overlay_ip
        # a lost handshake is retried after 5 s: wait for the session before counting losses
        deadline = time.monotonic() + 20
        while not ping_in_namespace(r1.namespace, r3_ip, count=1, wait_s=1).received:
            assert time.monotonic() < deadline, "no session with the lossy robot in 20 s"
        lossy = ping_in_namespace(r1.namespace, r3_ip, count=30, interval_s=0.02, wait_s=0.5)
        # 30 % each way: about 51 % of round trips lost; all-through or all-lost is ~1e-6
        assert 0 < lossy.received < 30, lossy
    finally:
        lab_down(P_OVI)


@pytest.mark.lab
def test_lab_demo_is_the_main_job(tmp_path):
    lab_preconditions()
    result = subprocess.run([*overlay_cli("overlay-lab"), "demo", "--overlay", "wireguard",
                             "--prefix", P_OVD, "--report", str(tmp_path / "report")],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6/6 robot pairs reach each other over the overlay: OK" in result.stdout
    # the monitor's table from inside each robot: peers named, direct, with an RTT
    assert result.stdout.count("wireguard Running") == 3
    assert result.stdout.count("198.18.") >= 6 and " ms " in result.stdout
    # ROS 2 across robots with the generated discovery configuration
    assert "[4/5] ROS 2 over the overlay" in result.stdout
    assert len(re.findall(r"r[23]: received [1-9][0-9]* messages", result.stdout)) == 2
    # a short link test per peer, and its report
    assert "[5/5] link tests" in result.stdout
    assert len(re.findall(r"overlay +100\.64\.0\.[23]: RTT [0-9.]+ ms .*TCP [0-9.]+ Mbit/s.*"
                          r"\[builtin; link direct\]", result.stdout)) == 2
    assert (tmp_path / "report" / "index.html").exists()
    assert f"lab '{P_OVD}' removed" in result.stdout
    assert lab_namespaces(P_OVD) == []


@pytest.mark.lab
@pytest.mark.real
def test_lab_demo_on_the_real_components(tmp_path):
    real_components_preconditions()
    result = subprocess.run([*overlay_cli("overlay-lab"), "demo", "--prefix", P_OVD, "--report",
                             str(tmp_path / "report")], capture_output=True, text=True,
                            timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-2000:]
    assert "real headscale" in out and "robot.launch.py" in out
    # read from each robot's real tailscaled: DERP on the restrictive campus, direct on the open
    assert "every pair derp: OK" in out and "every pair direct: OK" in out
    assert out.count("derp (campus)") == 6 and len(re.findall(r"direct +│ 198\.18\.", out)) == 6
    assert len(re.findall(r"r[23]: received [1-9][0-9]* messages", out)) == 2
    assert "[builtin; link derp]" in out and "[builtin; link direct]" in out
    assert (tmp_path / "report" / "index.html").exists()
    assert lab_namespaces(P_OVD) == []
