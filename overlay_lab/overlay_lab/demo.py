"""``overlay-lab demo``: the main job in one command, on either overlay.

- ``wireguard``: a wireguard-go mesh behind a router that passes only WireGuard UDP; the ping
  matrix, the monitor in each robot, ROS messages across, link tests and their report.
- ``tailscale``: a generated Headscale server, robots that join through robot.launch.py,
  per-peer state from each robot's monitor on both campuses, ROS messages across, and a link
  test (direct vs DERP, both against the underlay) with its report.

Both share the steps that are the same: the monitor's one-shot view in every robot (with the
RTT probe), the ROS talker/listeners, a link-test server and client, the report.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import LabError, OverlayError

from . import proc
from .reachability import ping_matrix
from .ros_demo import show_talker_and_listeners, write_demo_report
from .runner import lab_down, lab_up, robot_exec_argv, switch_campus
from .services import bundle
from .state import LabRobot, LabState, TailscaleRobot, lab_dir, save_state
from .tailnet import member_socket, update_hosts
from .topology import LabPlan, Overlay

LINKTEST = "overlay_monitor.linktest.cli"


def _say(console: Console, step: int, steps: int, text: str) -> None:
    console.print(f"[{step}/{steps}] {text}", highlight=False, soft_wrap=True)


def show_monitor(state: LabState, console: Console, *backend: str) -> dict[str, dict[str, str]]:
    """``overlay-status --ping`` in every robot, as a user on that robot runs it, then its JSON;
    {robot: {peer: state}}. ``backend``: extra options (the WireGuard backend and interface)."""
    states: dict[str, dict[str, str]] = {}
    for robot in state.robots:
        argv = proc.python_module("overlay_monitor.status_cli", *backend_args(robot, backend),
                                  "--ping")
        console.print(f"--- {robot.name} ({robot.overlay_ip}) ---", highlight=False)
        console.file.flush()
        proc.call(robot_exec_argv(state, robot.name, argv), timeout_s=60)
        out = proc.run_result(robot_exec_argv(state, robot.name, [*argv, "--json"]),
                              timeout_s=60).stdout
        states[robot.name] = {p["hostname"]: p["state"] for p in json.loads(out)["peers"]}
    return states


def backend_args(robot: LabRobot, backend: tuple[str, ...]) -> list[str]:
    return [*backend, "--interface", robot.interface] if backend else []


#: one link test: (target robot, label, options of 'overlay-linktest run', what to do first)
LinkRun = tuple[LabRobot, str, list[str], Callable[[], None]]


def _link_tests(state: LabState, console: Console, report: Path, runs: list[LinkRun]) -> bool:
    """A link-test server on every target; each run from the first robot; then the report."""
    first = state.robots[0]
    dataset = lab_dir(state.prefix) / "linktest.jsonl"
    dataset.unlink(missing_ok=True)
    targets = {target.name: target for target, *_ in runs}
    servers = [proc.spawn(robot_exec_argv(state, name, proc.python_module(LINKTEST, "serve")),
                          stderr=False) for name in targets]
    ok = True
    try:
        for server in servers:
            assert server.stdout is not None
            server.stdout.readline()  # "serving on …"
        for target, label, options, before in runs:
            before()
            argv = proc.python_module(LINKTEST, "run", "--target", target.overlay_ip,
                                      "--location", f"lab {first.name}-{target.name} {label}",
                                      "--tool", "builtin", "--dataset", str(dataset), *options)
            result = proc.run_result(robot_exec_argv(state, first.name, argv), timeout_s=180)
            for line in result.stdout.splitlines():
                if line.startswith(("overlay", "underlay")):
                    console.print(f"      {label}: {line}", highlight=False, soft_wrap=True,
                                  markup=False)
            ok = ok and result.returncode == 0
            if result.returncode != 0:
                console.print(f"      {result.stderr.strip()[-400:]}", markup=False)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    if ok:
        write_demo_report(dataset, report, console)
    return ok


def _print_matrix(state: LabState, console: Console) -> bool:
    results = ping_matrix(state)
    table = Table(title="overlay reachability (ping over WireGuard)", title_justify="left")
    for column in ("from", "to", "overlay IP", "received", "loss", "avg RTT"):
        table.add_column(column)
    for r in results:
        table.add_row(r.source, r.target, r.target_ip, f"{r.stats.received}/{r.stats.sent}",
                      f"{r.stats.loss_percent:.0f} %",
                      "-" if not r.stats.reachable else f"{r.stats.avg_ms:.2f} ms")
    console.print(table)
    ok = all(r.stats.reachable for r in results)
    console.print(f"{sum(r.stats.reachable for r in results)}/{len(results)} robot pairs reach "
                  f"each other over the overlay: {'OK' if ok else 'FAILED'}")
    return ok


def _wireguard_demo(plan: LabPlan, console: Console, report: Path) -> tuple[LabState, bool]:
    steps = 5
    _say(console, 1, steps, f"building lab {plan.prefix!r}: {len(plan.robots)} robots behind a "
                            "router that passes only WireGuard UDP")
    start = time.monotonic()
    state = lab_up(plan).state
    console.print(f"      up in {time.monotonic() - start:.1f} s")
    _say(console, 2, steps, "every robot pings every other robot's overlay address")
    ok = _print_matrix(state, console)
    _say(console, 3, steps, "the link monitor inside each robot (overlay-status --backend "
                            "wireguard --ping): state, endpoint, RTT, bytes, handshake age")
    seen = show_monitor(state, console, "--backend", "wireguard")
    ok = all(len(peers) == len(state.robots) - 1 for peers in seen.values()) and ok
    _say(console, 4, steps, f"ROS 2 over the overlay: talker on {state.robots[0].name}, "
                            "listeners on the others; discovery: Fast DDS initial peers from "
                            "overlay-discovery (no multicast)")
    ok = show_talker_and_listeners(state, console) and ok
    _say(console, 5, steps, f"link tests from {state.robots[0].name} over the overlay, and the "
                            "report")
    options = ["--duration", "1", "--count", "10", "--interval", "0.05", "--backend",
               "wireguard", "--interface", state.robots[0].interface]
    ok = _link_tests(state, console, report, [(target, "overlay", options, lambda: None)
                                              for target in state.robots[1:]]) and ok
    return state, ok


def launch_robots(state: LabState, console: Console) -> dict[str, subprocess.Popen[bytes]]:
    """``ros2 launch overlay_bringup robot.launch.py`` in every robot (join + discovery +
    monitor); without ros2 on this machine, ``overlay-join`` instead."""
    team = bundle(state.prefix, state.server_url, "lab")
    launches: dict[str, subprocess.Popen[bytes]] = {}
    if shutil.which("ros2") is None:
        console.print("      ros2 launch is not installed here: joining with overlay-join")
        for robot in state.robots:
            proc.run(robot_exec_argv(state, robot.name, proc.python_module(
                "overlay_bringup.join.cli", "--login-server", state.server_url,
                "--auth-key-file", str(team.key_file), "--hostname", robot.name, "--tags",
                team.tag, "--ca-file", str(team.ca_file), "--accept-dns", "false")),
                timeout_s=120)
        return launches
    for robot in state.robots:
        log = lab_dir(state.prefix) / "logs" / f"robot-launch-{robot.name}.log"
        argv = ["setsid", "env", "--default-signal=INT", "ros2", "launch", "overlay_bringup",
                "robot.launch.py", f"robot_name:={robot.name}",
                f"login_server:={state.server_url}", f"auth_key_file:={team.key_file}",
                f"ca_file:={team.ca_file}"]
        launches[robot.name] = proc.start(robot_exec_argv(state, robot.name, argv), log)
    return launches


def wait_running(state: LabState, timeout_s: float = 90.0) -> dict[str, float]:
    """Seconds until each robot's tailscaled reported Running with an address."""
    start = time.monotonic()
    done: dict[str, float] = {}
    robots = state.robots_as(TailscaleRobot)
    while len(done) < len(robots) and time.monotonic() - start < timeout_s:
        for robot in robots:
            if robot.name in done:
                continue
            try:
                with LocalAPIClient(str(member_socket(state.prefix, robot.name))) as client:
                    snap = client.snapshot()
            except OverlayError:
                continue
            if snap.backend_state == "Running" and snap.self_peer and snap.self_peer.overlay_ips:
                done[robot.name] = time.monotonic() - start
                robot.tailscale_ips = list(snap.self_peer.overlay_ips)
                robot.overlay_ip = robot.tailscale_ips[0]
        time.sleep(0.2)
    missing = [r.name for r in robots if r.name not in done]
    if missing:
        raise LabError(f"{', '.join(missing)} did not join within {timeout_s:g} s (see "
                       f"{lab_dir(state.prefix) / 'logs'})")
    return done


def _traffic(state: LabState, seconds: float = 3.0) -> None:
    """Pings between every pair, so every path is in use (and known) when the monitor looks."""
    pings = [proc.spawn(robot_exec_argv(state, a.name, [
        "ping", "-q", "-c", str(int(seconds / 0.2)), "-i", "0.2", b.overlay_ip]), stderr=False)
        for a in state.robots for b in state.robots if a is not b]
    for ping in pings:
        ping.communicate(timeout=seconds + 30)


def _tailscale_demo(plan: LabPlan, console: Console, report: Path) -> tuple[LabState, bool]:
    steps = 6
    start = time.monotonic()
    _say(console, 1, steps, f"lab {plan.prefix!r}: the real headscale (embedded DERP + STUN) in "
                            "a server namespace, generated by 'overlay-server generate' and set "
                            "up with 'overlay-server apply'; a real tailscaled in each of "
                            f"{len(plan.robots)} robots; a campus router that passes only the "
                            "server's HTTPS and STUN")
    state = lab_up(plan, join=False).state
    console.print(f"      up in {time.monotonic() - start:.1f} s; server {state.server_url}",
                  highlight=False)
    launches: dict[str, subprocess.Popen[bytes]] = {}
    ok = True
    try:
        _say(console, 2, steps, "every robot runs 'ros2 launch overlay_bringup robot.launch.py' "
                                "with its team's bundle: join, discovery configuration, link "
                                "monitor")
        launches = launch_robots(state, console)
        joined = wait_running(state)  # also records each robot's addresses
        update_hosts(state)
        save_state(state)
        console.print("      joined: " + ", ".join(
            f"{r.name} {r.overlay_ip} in {joined[r.name]:.1f} s" for r in state.robots),
            highlight=False)
        for step, campus, expected in ((3, "restrictive", "derp"), (4, "open", "direct")):
            switch_campus(state.prefix, campus)
            _say(console, step, steps, f"{campus} campus: the monitor in each robot "
                                       "(overlay-status --ping, from its own tailscaled); every "
                                       f"pair should read {expected}")
            _traffic(state, 3.0 if campus == "restrictive" else 6.0)
            states = show_monitor(state, console)
            good = all(s == expected for peers in states.values() for s in peers.values())
            console.print(f"      every pair {expected}: {'OK' if good else 'NO'}")
            ok = ok and good
        switch_campus(state.prefix, "restrictive")
        _say(console, 5, steps, "ROS 2 over the overlay (restrictive campus, DERP): talker on "
                                "r1, listeners on the others; discovery from overlay-discovery")
        ok = show_talker_and_listeners(state, console) and ok
        _say(console, 6, steps, "link test r1 -> r2, DERP and direct, each against the underlay")
        second = state.robots[1]
        options = ["--underlay", second.underlay_ip, "--duration", "3", "--count", "20",
                   "--interval", "0.05"]

        def campus_with_traffic(campus: str, seconds: float) -> Callable[[], None]:
            def before() -> None:
                switch_campus(state.prefix, campus)
                _traffic(state, seconds)
            return before

        ok = _link_tests(state, console, report, [
            (second, "DERP", options, campus_with_traffic("restrictive", 3.0)),
            (second, "direct", options, campus_with_traffic("open", 6.0))]) and ok
    finally:
        proc.interrupt_groups(launches.values())
    return state, ok


DEMOS: dict[Overlay, Callable[[LabPlan, Console, Path], tuple[LabState, bool]]] = {
    Overlay.WIREGUARD: _wireguard_demo,
    Overlay.TAILSCALE: _tailscale_demo,
}


def run_demo(plan: LabPlan, console: Console, report: Path, keep: bool) -> int:
    """The demo of ``plan``'s overlay; 0 when every step passed. The lab is removed afterwards
    unless ``keep``."""
    try:
        _, ok = DEMOS[plan.overlay](plan, console, report)
    finally:
        if not keep:
            lab_down(plan.prefix)
            console.print(f"lab {plan.prefix!r} removed")
    return 0 if ok else 1
