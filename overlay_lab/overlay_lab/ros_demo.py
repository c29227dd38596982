"""A ROS 2 talker on the first lab robot and listeners on the others, with the discovery
configuration the generator makes for each robot (Fast DDS initial peers over the overlay)."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from rich.console import Console

from overlay_bringup.components import require_components, zenoh_plugin_dir
from overlay_bringup.discovery import DiscoveryRequest, generate
from overlay_bringup.discovery.files import environment, read_env, write_config
from overlay_bringup.discovery.model import BridgePolicy
from overlay_bringup.discovery.zenoh_bridge import BRIDGE_CONFIG_FILE, BRIDGE_ENV

from . import proc
from .runner import robot_exec_argv
from .state import LabState, lab_dir


def discovery_env(state: LabState, robot: str, mode: str = "fastdds-peers",
                  domain_id: int = 42, underlay: bool = False, server: str = ""
                  ) -> dict[str, str]:
    """The discovery environment ``overlay-discovery`` makes for ``robot``, with the lab's
    robots as its peers; ``underlay``: bound to the plain network's addresses instead (a
    baseline to compare the overlay with); ``server``: fastdds-server's ``IP:PORT``."""
    me = state.robot(robot)
    if underlay:
        request = DiscoveryRequest(mode, me.underlay_ip,
                                   tuple(r.underlay_ip for r in state.robots),
                                   interface="eth0", domain_id=domain_id, server=server)
    else:
        request = DiscoveryRequest(mode, me.overlay_ip, tuple(r.overlay_ip for r in state.robots),
                                   interface=me.interface, domain_id=domain_id, server=server)
    config = generate(request)
    directory = (lab_dir(state.prefix) / "discovery" / (f"{mode}-underlay" if underlay else mode)
                 / me.name)
    write_config(config, directory)
    return environment(config, directory)


def zenoh_bridges(state: LabState, robots: tuple[str, ...], domain_id: int,
                  policy: BridgePolicy | None = None, settle_s: float = 3.0,
                  ) -> tuple[dict[str, dict[str, str]], list[subprocess.Popen[bytes]]]:
    """The zenoh-bridge mode on ``robots``: each robot's node environment (Fast DDS defaults,
    LOCALHOST) and its running bridge (zenohd with the ros2dds plugin, on the overlay only)."""
    zenohd = require_components("zenohd")["zenohd"]
    plugins = zenoh_plugin_dir(zenohd)
    envs: dict[str, dict[str, str]] = {}
    bridges = []
    for name in robots:
        me = state.robot(name)
        config = generate(DiscoveryRequest(
            "zenoh-bridge", me.overlay_ip, tuple(r.overlay_ip for r in state.robots),
            domain_id=domain_id, bridge=policy or BridgePolicy(),
            bridge_plugin_dir=str(plugins) if plugins else ""))
        folder = lab_dir(state.prefix) / "discovery" / "zenoh-bridge" / name
        write_config(config, folder)
        envs[name] = environment(config, folder)
        bridge_env = read_env((folder / f"env.{BRIDGE_ENV}").read_text())
        bridges.append(proc.start(robot_exec_argv(state, name, [
            "env", *(f"{k}={v}" for k, v in bridge_env.items()), str(zenohd), "-c",
            str(folder / BRIDGE_CONFIG_FILE)]), lab_dir(state.prefix) / "logs" /
            f"bridge-{name}.log"))
    time.sleep(settle_s)  # the bridges find each other (measured: under 1 s)
    return envs, bridges


#: where a bench's or demo's fast-discovery-server listens on r1 (fastdds-server mode)
DISCOVERY_SERVER_PORT = 11811


def mode_envs(state: LabState, mode: str, domain_id: int, robots: tuple[str, ...] = (),
              policy: BridgePolicy | None = None,
              ) -> tuple[dict[str, dict[str, str]], list[int]]:
    """Each robot's ROS environment for discovery ``mode`` (``robots``: these only; default
    all), and the pids of what the mode needs running: the bridges (zenoh-bridge, carrying
    what ``policy`` allows), the real fast-discovery-server on r1 (fastdds-server)."""
    names = robots or tuple(r.name for r in state.robots)
    if mode == "zenoh-bridge":
        envs, bridges = zenoh_bridges(state, names, domain_id, policy)
        return envs, [b.pid for b in bridges]
    helpers: list[int] = []
    server = ""
    if mode == "fastdds-server":
        r1 = state.robot("r1").overlay_ip
        server = f"{r1}:{DISCOVERY_SERVER_PORT}"
        helpers.append(proc.start(robot_exec_argv(state, "r1", [
            "fast-discovery-server", "-i", "0", "-l", r1, "-p", str(DISCOVERY_SERVER_PORT)]),
            lab_dir(state.prefix) / "logs" / "discovery-server.log").pid)
        time.sleep(1.0)
    envs = {name: discovery_env(state, name, mode, domain_id=domain_id, server=server)
            for name in names}
    return envs, helpers


def chatter_argv(state: LabState, robot: str, env: dict[str, str], *args: str) -> list[str]:
    words = [f"{key}={value}" for key, value in sorted(env.items())]
    return robot_exec_argv(state, robot, ["env", *words,
                                          *proc.python_module("overlay_lab.chatter", *args)])


def talker_and_listeners(state: LabState, duration_s: float = 8.0,
                         mode: str = "fastdds-peers") -> dict[str, dict[str, object]]:
    """Run the chatter across robots; return each listener's result by robot name."""
    talker, *listeners = [r.name for r in state.robots]
    procs = {name: proc.spawn(chatter_argv(state, name, discovery_env(state, name, mode),
                                           "listen", "--duration", str(duration_s)),
                              stderr=False)
             for name in listeners}
    time.sleep(0.5)
    proc.run_result(chatter_argv(state, talker, discovery_env(state, talker, mode), "talk",
                                 "--duration", str(duration_s - 0.5)), timeout_s=duration_s + 30)
    results = {}
    for name, listener in procs.items():
        out, _ = listener.communicate(timeout=duration_s + 30)
        results[name] = last_json_line(out) or {"received": 0, "first_s": None}
    return results


def last_json_line(text: str) -> dict[str, object]:
    """The JSON object on the last line a chatter printed (empty when it printed nothing)."""
    lines = text.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def show_talker_and_listeners(state: LabState, console: Console) -> bool:
    """The demo's ROS step: run the chatter across robots and print what each listener got.
    True when every listener received something (or rclpy is not importable here)."""
    try:
        import rclpy  # noqa: F401
        import std_msgs.msg  # noqa: F401
    except ImportError:
        console.print("      skipped: rclpy is not importable here (source tools/env.sh)")
        return True
    results = talker_and_listeners(state)
    for name, result in results.items():
        console.print(f"      {name}: received {result['received']} messages, first after "
                      f"{result['first_s']} s", highlight=False)
    return all(int(str(r["received"])) > 0 for r in results.values())


def write_demo_report(dataset: Path, report: Path, console: Console) -> None:
    """The link-test report of a demo run."""
    from overlay_monitor.linktest.dataset import load_records
    from overlay_monitor.linktest.report import write_report

    page = write_report(load_records(dataset), report)
    console.print(f"      report: {page.resolve()}", highlight=False, soft_wrap=True)
