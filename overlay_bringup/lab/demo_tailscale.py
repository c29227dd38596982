"""The demo on the real components: a generated Headscale server, robots that join through
robot.launch.py, per-peer state from each robot's monitor on both campuses, ROS messages across,
and a link test (direct vs DERP, both against the underlay) with its report."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import OverlayError

from . import LabError
from .ros_demo import show_talker_and_listeners, write_demo_report
from .runner import NETNS_ETC_DIR, lab_down, lab_up, robot_exec_argv, switch_campus
from .state import LabState, lab_dir, save_state
from .tailscale_lab import robot_dir, server_out, update_hosts
from .topology import LabPlan

STEPS = 6


def _say(console: Console, step: int, text: str) -> None:
    console.print(f"[{step}/{STEPS}] {text}", highlight=False, soft_wrap=True)


def launch_robots(state: LabState, console: Console) -> dict[str, subprocess.Popen[str]]:
    """``ros2 launch overlay_bringup robot.launch.py`` in every robot (join + discovery +
    monitor); without ros2 on this machine, ``overlay-join`` instead."""
    bundle = server_out(state.prefix) / "bundles" / "lab"
    launches: dict[str, subprocess.Popen[str]] = {}
    if shutil.which("ros2") is None:
        console.print("      ros2 launch is not installed here: joining with overlay-join")
        for robot in state.robots:
            argv = [sys.executable, "-m", "overlay_bringup.join.cli", "--login-server",
                    state.server_url, "--auth-key-file", str(bundle / "auth.key"), "--hostname",
                    robot.name, "--tags", "tag:lab", "--ca-file", str(bundle / "ca.crt"),
                    "--accept-dns", "false"]
            subprocess.run(robot_exec_argv(state, robot.name, argv), check=True, timeout=120,
                           capture_output=True)
        return launches
    for robot in state.robots:
        log_path = lab_dir(state.prefix) / "logs" / f"robot-launch-{robot.name}.log"
        argv = ["setsid", "env", "--default-signal=INT", "ros2", "launch", "overlay_bringup",
                "robot.launch.py", f"robot_name:={robot.name}",
                f"login_server:={state.server_url}", f"auth_key_file:={bundle / 'auth.key'}",
                f"ca_file:={bundle / 'ca.crt'}", "tags:=tag:lab"]
        with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
            launches[robot.name] = subprocess.Popen(robot_exec_argv(state, robot.name, argv),
                                                    stdout=log, stderr=subprocess.STDOUT,
                                                    text=True)
    return launches


def wait_running(state: LabState, timeout_s: float = 90.0) -> dict[str, float]:
    """Seconds until each robot's tailscaled reported Running with an address."""
    start = time.monotonic()
    done: dict[str, float] = {}
    while len(done) < len(state.robots) and time.monotonic() - start < timeout_s:
        for robot in state.robots:
            if robot.name in done:
                continue
            try:
                with LocalAPIClient(str(robot_dir(state.prefix, robot.name) / "run" /
                                        "tailscaled.sock")) as client:
                    snap = client.snapshot()
            except OverlayError:
                continue
            if snap.backend_state == "Running" and snap.self_peer and snap.self_peer.overlay_ips:
                done[robot.name] = time.monotonic() - start
                robot.tailscale_ips = list(snap.self_peer.overlay_ips)
                robot.overlay_ip = robot.tailscale_ips[0]
        time.sleep(0.2)
    missing = [r.name for r in state.robots if r.name not in done]
    if missing:
        raise LabError(f"{', '.join(missing)} did not join within {timeout_s:g} s (see "
                       f"{lab_dir(state.prefix) / 'logs'})")
    return done


def _traffic(state: LabState, seconds: float = 3.0) -> None:
    """Pings between every pair, so every path is in use (and known) when the monitor looks."""
    procs = [subprocess.Popen(robot_exec_argv(state, a.name, [
        "ping", "-q", "-c", str(int(seconds / 0.2)), "-i", "0.2", b.overlay_ip]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for a in state.robots for b in state.robots if a is not b]
    for proc in procs:
        proc.wait(timeout=seconds + 30)


def show_monitor(state: LabState, console: Console) -> dict[str, dict[str, str]]:
    """``overlay-status`` in every robot (its own tailscaled); {robot: {peer: state}}."""
    states: dict[str, dict[str, str]] = {}
    for robot in state.robots:
        argv = [sys.executable, "-m", "overlay_monitor.status_cli"]
        console.print(f"--- {robot.name} ({robot.overlay_ip}) ---", highlight=False)
        sys.stdout.flush()
        subprocess.call(robot_exec_argv(state, robot.name, argv), timeout=60)
        out = subprocess.run(robot_exec_argv(state, robot.name, [*argv, "--json"]),
                             capture_output=True, text=True, timeout=60).stdout
        states[robot.name] = {p["hostname"]: p["state"] for p in json.loads(out)["peers"]}
    return states


def _link_tests(state: LabState, console: Console, report: Path) -> bool:
    """r1 -> r2 on each campus, over the overlay and the underlay; then the report."""
    first, second = state.robots[0], state.robots[1]
    dataset = lab_dir(state.prefix) / "linktest.jsonl"
    dataset.unlink(missing_ok=True)
    server = subprocess.Popen(robot_exec_argv(state, second.name, [
        sys.executable, "-m", "overlay_monitor.linktest.cli", "serve"]),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ok = True
    try:
        server.stdout.readline()  # type: ignore[union-attr]  # "serving on …"
        for campus, label in (("restrictive", "DERP"), ("open", "direct")):
            switch_campus(state.prefix, campus)
            _traffic(state, 3.0 if campus == "restrictive" else 6.0)
            argv = [sys.executable, "-m", "overlay_monitor.linktest.cli", "run", "--target",
                    second.overlay_ip, "--underlay", second.underlay_ip, "--location",
                    f"lab {first.name}-{second.name} {label}", "--duration", "3", "--count",
                    "20", "--interval", "0.05", "--tool", "builtin", "--dataset", str(dataset)]
            result = subprocess.run(robot_exec_argv(state, first.name, argv), capture_output=True,
                                    text=True, timeout=180)
            for line in result.stdout.splitlines():
                console.print(f"      {campus}: {line}", highlight=False, soft_wrap=True,
                              markup=False)
            ok = ok and result.returncode == 0
            if result.returncode != 0:
                console.print(f"      {result.stderr.strip()[-400:]}", markup=False)
    finally:
        server.terminate()
        server.wait(timeout=10)
    if ok:
        write_demo_report(dataset, report, console)
    return ok


def _stop(launches: dict[str, subprocess.Popen[str]]) -> None:
    for proc in launches.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
    for proc in launches.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_demo(plan: LabPlan, console: Console, report: Path, keep: bool) -> int:
    start = time.monotonic()
    _say(console, 1, f"lab {plan.prefix!r}: the real headscale (embedded DERP + STUN) in a "
                     "server namespace, generated by 'overlay-server generate' and set up with "
                     "'overlay-server apply'; a real tailscaled in each of "
                     f"{len(plan.robots)} robots; a campus router that passes only the server's "
                     "HTTPS and STUN")
    result = lab_up(plan, join=False)
    state = result.state
    console.print(f"      up in {time.monotonic() - start:.1f} s; server {state.server_url}",
                  highlight=False)
    launches: dict[str, subprocess.Popen[str]] = {}
    ok = True
    try:
        _say(console, 2, "every robot runs 'ros2 launch overlay_bringup robot.launch.py' with "
                         "its team's bundle: join, discovery configuration, link monitor")
        launches = launch_robots(state, console)
        joined = wait_running(state)  # also records each robot's addresses
        update_hosts(state, NETNS_ETC_DIR)
        save_state(state)
        console.print("      joined: " + ", ".join(
            f"{r.name} {r.overlay_ip} in {joined[r.name]:.1f} s" for r in state.robots),
            highlight=False)
        for step, campus, expected in ((3, "restrictive", "derp"), (4, "open", "direct")):
            switch_campus(state.prefix, campus)
            _say(console, step, f"{campus} campus: the monitor in each robot (overlay-status, "
                                f"from its own tailscaled); every pair should read {expected}")
            _traffic(state, 3.0 if campus == "restrictive" else 6.0)
            states = show_monitor(state, console)
            good = all(s == expected for peers in states.values() for s in peers.values())
            console.print(f"      every pair {expected}: {'OK' if good else 'NO'}")
            ok = ok and good
        switch_campus(state.prefix, "restrictive")
        _say(console, 5, "ROS 2 over the overlay (restrictive campus, DERP): talker on r1, "
                         "listeners on the others; discovery from overlay-discovery")
        ok = show_talker_and_listeners(state, console) and ok
        _say(console, 6, "link test r1 -> r2, DERP and direct, each against the underlay")
        ok = _link_tests(state, console, report) and ok
    finally:
        _stop(launches)
        if not keep:
            lab_down(plan.prefix)
            console.print(f"lab {plan.prefix!r} removed")
    return 0 if ok else 1
