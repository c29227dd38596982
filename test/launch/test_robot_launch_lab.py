"""`ros2 launch overlay_bringup robot.launch.py` as each robot of the real-component lab runs
it (root, Go-built tailscale/headscale, ros2 launch): it joins with the team's bundle, writes the
discovery configuration and starts the monitor; a talker on r1 then reaches listeners on r2 and
r3 over tailscale0, for each discovery mode, on both campuses. The first run also joins."""
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from overlay_lab.runner import lab_down, lab_up, robot_exec_argv, switch_campus
from overlay_lab.services import server_out
from overlay_testing import lab_prefix, real_components_preconditions, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.launch_test, pytest.mark.slow]
PREFIX = lab_prefix("otl")
LAUNCH = str(Path(__file__).resolve().parent / "lab_chatter.launch.py")
DURATION = 14
RESULTS: dict[str, dict[str, object]] = {}


@pytest.fixture(scope="module")
def unjoined_lab():
    real_components_preconditions()
    if shutil.which("ros2") is None:
        skip_or_fail("ros2 (launch, ros2cli) is not installed: ../shared/ros2-python-tools")
    result = lab_up(plan_lab_args(), join=False)
    yield result.state
    lab_down(PREFIX)
    print("\nrobot.launch.py on the real lab:", json.dumps(RESULTS, indent=1))


def plan_lab_args():
    from overlay_lab.topology import plan_lab
    return plan_lab(3, PREFIX, overlay="tailscale", campus="restrictive")


def _launch(state, robot, role, mode, domain, server="", duration=DURATION):
    bundle = server_out(PREFIX) / "bundles" / "lab"
    args = [f"role:={role}", f"duration:={duration}", f"robot_name:={robot}",
            f"login_server:={state.server_url}", f"auth_key_file:={bundle / 'auth.key'}",
            f"ca_file:={bundle / 'ca.crt'}", "tags:=tag:lab", f"discovery_mode:={mode}",
            f"domain_id:={domain}"]
    if server:
        args.append(f"discovery_server:={server}")
    argv = ["setsid", "env", "--default-signal=INT", "ros2", "launch", LAUNCH, *args]
    return subprocess.Popen(robot_exec_argv(state, robot, argv), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def _listener_result(output: str) -> dict[str, object]:
    for line in reversed(output.splitlines()):
        start = line.find("{")
        if start >= 0 and '"received"' in line:
            return json.loads(line[start:])
    return {"received": 0, "first_wall": None}


def _stop(proc):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


def _talk_and_listen(launch):
    """Listeners on r2 and r3, a talker on r1 (each a `launch(robot, role)` process); the
    listeners' outputs and the talker's, every process stopped afterwards."""
    procs = {name: launch(name, "listen") for name in ("r2", "r3")}
    procs["r1"] = launch("r1", "talk")
    outputs = {}
    try:
        for name in ("r2", "r3"):
            try:
                outputs[name], _ = procs[name].communicate(timeout=DURATION + 60)
            except subprocess.TimeoutExpired:
                outputs[name] = _stop(procs[name])
    finally:
        talker_out = _stop(procs["r1"])
        for proc in procs.values():
            _stop(proc)
    return outputs, talker_out


@pytest.mark.parametrize("campus", ["restrictive", "open"])
@pytest.mark.parametrize("mode", ["fastdds-peers", "static-peers", "fastdds-server", "zenoh-bridge"])
def test_robot_launch_on_every_robot_carries_ros_messages(unjoined_lab, mode, campus):
    state = switch_campus(PREFIX, campus)
    domain = random.randint(1, 100)
    server_proc = None
    server = ""
    if mode == "fastdds-server":
        r1_ip = state.robot("r1").tailscale_ips[0] if state.robot("r1").tailscale_ips else ""
        if not r1_ip:  # r1 has not joined yet: join it through robot.launch.py first
            first = _launch(state, "r1", "listen", "fastdds-peers", domain)
            time.sleep(8)
            _stop(first)
            from overlay_lab.tailnet import tailscale_ips
            r1_ip = tailscale_ips(PREFIX, "r1")[0]
            state.robot("r1").tailscale_ips = [r1_ip]
        server = f"{r1_ip}:11811"
        server_proc = subprocess.Popen(robot_exec_argv(state, "r1", [
            "setsid", "fast-discovery-server", "-i", "0", "-l", r1_ip, "-p", "11811"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    started = time.time()
    try:
        outputs, talker_out = _talk_and_listen(
            lambda robot, role: _launch(state, robot, role, mode, domain, server))
    finally:
        if server_proc is not None:
            subprocess.run(["ip", "netns", "exec", state.robot("r1").namespace, "pkill", "-f",
                            "fast-discovery-server"], check=False)
            server_proc.wait(10)
    results = {name: _listener_result(out) for name, out in outputs.items()}
    firsts = {name: round(r["first_wall"] - started, 2) if r.get("first_wall") else None
              for name, r in results.items()}
    RESULTS[f"{mode}/{campus}"] = {"first_message_after_launch_s": firsts,
                                   "received": {n: r["received"] for n, r in results.items()}}
    assert "overlay: joined" in talker_out or "overlay: already joined" in talker_out, \
        talker_out[-2000:]
    for name, result in results.items():
        assert result["received"] > 0, f"{name} got nothing ({mode}, {campus}): " \
                                       f"{outputs[name][-1500:]}"


def _arrivals_wall(result):
    """The listener's arrival times on the wall clock (its own t=0 comes after its start-up)."""
    if not result.get("first_wall"):
        return []
    t0 = result["first_wall"] - result["first_s"]
    return [t0 + t for t in result.get("arrivals_s", [])]


def _outage(arrivals, event, until):
    """The longest silence from ``event`` on (to the first arrival, or between two), before
    ``until``; None when nothing arrived."""
    points = [event] + [t for t in arrivals if event <= t < until]
    if len(points) < 2:
        return None
    return round(max(b - a for a, b in itertools.pairwise(points)), 2)


def _kill_bridge(state, robot):
    """SIGKILL the zenohd that robot.launch.py started on ``robot`` (found by its namespace,
    not by name: other robots' and other labs' bridges run on this machine too)."""
    from overlay_lab import proc

    pids = [pid for pid in proc.pids_in(state.robot(robot).namespace)
            if "zenohd" in proc.command_line(pid).split(" ", 1)[0]]
    assert len(pids) == 1, f"expected one zenohd on {robot}, found {pids}"
    os.kill(pids[0], signal.SIGKILL)


def test_zenoh_bridge_delivery_resumes_after_the_bridge_dies_and_after_tailscaled_restarts(
        unjoined_lab):
    """r1 talks to r2 through the bridges for 50 s. r2's bridge is killed (launch respawns
    it), later r2's tailscaled restarts (its overlay address goes away and comes back)."""
    from overlay_lab.runner import restart_tailscaled

    state = switch_campus(PREFIX, "open")
    domain = random.randint(1, 100)
    listener = _launch(state, "r2", "listen", "zenoh-bridge", domain, duration=50)
    talker = _launch(state, "r1", "talk", "zenoh-bridge", domain, duration=50)
    try:
        time.sleep(15)
        killed = time.time()
        _kill_bridge(state, "r2")
        time.sleep(15)
        restarted = time.time()
        restart_tailscaled(PREFIX, "r2")
        try:
            out, _ = listener.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            out = _stop(listener)
    finally:
        _stop(listener)
        _stop(talker)
    arrivals = _arrivals_wall(_listener_result(out))
    before = [t for t in arrivals if t < killed]
    after_kill = [t for t in arrivals if killed < t < restarted]
    after_restart = [t for t in arrivals if t > restarted]
    RESULTS["zenoh-bridge/resume"] = {
        "received": len(arrivals),
        "outage_after_bridge_killed_s": _outage(arrivals, killed, restarted),
        "outage_after_tailscaled_restart_s": _outage(arrivals, restarted, math.inf)}
    assert before, out[-2000:]
    assert after_kill, f"nothing arrived after r2's bridge was killed: {out[-2000:]}"
    assert after_restart and after_restart[-1] > restarted + 5, \
        f"delivery did not resume after r2's tailscaled restarted: {out[-2000:]}"
    # launch restarted the bridge, and the monitor saw it go and come back
    assert out.count("overlay_bridge-") and "process has died" in out, out[-3000:]
    assert "bridge not reachable at tcp/" in out, out[-3000:]


def test_robot_launch_on_the_wireguard_lab(lab3):
    """Every backend passes through the main entry point: robot.launch.py with
    backend:=wireguard on every robot of the WireGuard lab, a talker on r1, listeners on r2, r3."""
    if shutil.which("ros2") is None:
        skip_or_fail("ros2 (launch, ros2cli) is not installed: ../shared/ros2-python-tools")
    domain = random.randint(1, 100)

    def launch(robot, role):
        me = lab3.robot(robot)
        argv = ["setsid", "env", "--default-signal=INT", "ros2", "launch", LAUNCH,
                f"role:={role}", f"duration:={DURATION}", "backend:=wireguard",
                f"interface:={me.interface}", "discovery_mode:=fastdds-peers",
                f"domain_id:={domain}"]
        return subprocess.Popen(robot_exec_argv(lab3, robot, argv), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    started = time.time()
    outputs, talker_out = _talk_and_listen(launch)
    # the WireGuard backend reads its own address and names itself after its hosts entry
    assert "overlay: not asked; r1 100.64.0.1" in talker_out, talker_out[-2000:]
    for name, out in outputs.items():
        result = _listener_result(out)
        assert result["received"] > 0, f"{name}: {out[-1500:]}"
        RESULTS[f"wireguard/{name}"] = {"first_message_after_launch_s":
                                        round(result["first_wall"] - started, 2)}
