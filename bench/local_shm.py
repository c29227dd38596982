"""Benchmark: what each Fast DDS transport layout costs for traffic between two nodes on ONE robot
(a camera and its consumer: 1 MB at 30 Hz) and what it delivers across the overlay (1 MB at 10 Hz,
r1 -> r2 of the WireGuard lab). All cases run side by side in one lab, so the CPU ratios against
Fast DDS's defaults compare like with like.

Layouts (each is the generated profile, changed in one place):
- generated: UDPv4 only, bound to the overlay address, 1200-byte datagrams (what we ship);
- + SHM: the same plus a shared-memory transport;
- UDP 64 kB + SHM: datagrams of 64 kB, so shared memory is not fed tiny fragments;
- TCP data + SHM: discovery on UDP, user data on TCPv4 bound to the overlay address.

Fast DDS 2.14 cuts every sample into fragments of the smallest maxMessageSize of a participant's
transports, and its XML cannot name a shared-memory locator; that is why no layout gets both a
cheap local path and a reliable overlay path. The last row is the zenoh-bridge mode (when
zenohd and its plugin are built): the nodes on Fast DDS defaults limited to the robot
(LOCALHOST), one zenohd bridge per robot across the overlay. Prints figures; asserts nothing.
Needs root and the lab (sudo, after `source tools/env.sh`):
    python bench/local_shm.py [--seconds 8]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from overlay_bringup.discovery.fastdds import NAMESPACE
from overlay_lab import proc
from overlay_lab.ros_demo import chatter_argv, discovery_env, zenoh_bridges
from overlay_lab.runner import lab_down, lab_up
from overlay_lab.state import LabState
from overlay_lab.topology import plan_lab

PREFIX = "ovshm"
DOMAIN = 51
NS = {"f": NAMESPACE}
Edit = Callable[[ET.Element, str], None]


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    element.text = text
    return element


def _add_transport(root: ET.Element, transport_id: str, kind: str, **fields: str) -> ET.Element:
    descriptor = _add(root.find(".//f:transport_descriptors", NS), "transport_descriptor")
    _add(descriptor, "transport_id", transport_id)
    _add(descriptor, "type", kind)
    for tag, text in fields.items():
        _add(descriptor, tag, text)
    _add(root.find(".//f:userTransports", NS), "transport_id", transport_id)
    return descriptor


def add_shm(root: ET.Element, _: str) -> None:
    _add_transport(root, "shm", "SHM", segment_size=str(8 * 1024 * 1024))


def udp_64k(root: ET.Element, self_ip: str) -> None:
    root.find(".//f:transport_descriptor/f:maxMessageSize", NS).text = "65500"
    add_shm(root, self_ip)


def tcp_data(root: ET.Element, self_ip: str) -> None:
    udp_64k(root, self_ip)
    tcp = _add_transport(root, "overlay_tcpv4", "TCPv4", maxMessageSize="65500")
    _add(_add(tcp, "listening_ports"), "port", "0")
    _add(_add(tcp, "interfaceWhiteList"), "address", self_ip)
    rtps = root.find(".//f:rtps", NS)
    meta = _add(rtps.find("f:builtin", NS), "metatrafficUnicastLocatorList")
    _add(_add(_add(meta, "locator"), "udpv4"), "address", self_ip)
    data = _add(rtps, "defaultUnicastLocatorList")
    _add(_add(_add(data, "locator"), "tcpv4"), "address", self_ip)


LAYOUTS: dict[str, Edit | None] = {"generated (UDP 1200 B, overlay)": None,
                                   "generated + SHM": add_shm,
                                   "UDP 64 kB + SHM": udp_64k,
                                   "TCP data + SHM": tcp_data}


def layout_env(state: LabState, robot: str, edit: Edit | None) -> dict[str, str]:
    env = discovery_env(state, robot, "fastdds-peers", domain_id=DOMAIN)
    if edit is None:
        return env
    path = Path(env["FASTRTPS_DEFAULT_PROFILES_FILE"])
    ET.register_namespace("", NAMESPACE)
    tree = ET.parse(path)
    edit(tree.getroot(), state.robot(robot).overlay_ip)
    variant = path.with_name(f"variant_{edit.__name__}.xml")
    tree.write(variant, encoding="UTF-8", xml_declaration=True)
    return {**env, "FASTRTPS_DEFAULT_PROFILES_FILE": str(variant),
            "FASTDDS_DEFAULT_PROFILES_FILE": str(variant)}


def run_case(state: LabState, talker: tuple[str, dict[str, str]],
             listener: tuple[str, dict[str, str]], seconds: float, rate: float,
             size: int) -> dict:
    listen = subprocess.Popen(chatter_argv(state, listener[0], listener[1], "listen",
                                           "--duration", str(seconds + 3)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.5)
    try:
        talk = subprocess.run(chatter_argv(state, talker[0], talker[1], "talk", "--duration",
                                           str(seconds), "--rate", str(rate), "--size", str(size)),
                              capture_output=True, text=True, timeout=seconds + 25)
        sent = json.loads(talk.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError):
        sent = {"sent": 0, "cpu_s": float("nan")}
    try:
        out, _ = listen.communicate(timeout=seconds + 25)
        heard = json.loads(out.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError):
        listen.kill()
        heard = {"received": 0, "latency_ms_median": None}
    return {"sent": sent["sent"], "received": heard["received"], "talker_cpu_s": sent["cpu_s"],
            "latency_ms_median": heard.get("latency_ms_median")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    state = lab_up(plan_lab(2, PREFIX)).state
    rows = []
    try:
        defaults = {"ROS_DOMAIN_ID": str(DOMAIN), "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}
        base = run_case(state, ("r1", defaults), ("r1", defaults), args.seconds, 30, args.size)
        rows.append(("Fast DDS defaults", base, None))
        for name, edit in LAYOUTS.items():
            env1, env2 = (layout_env(state, r, edit) for r in ("r1", "r2"))
            local = run_case(state, ("r1", env1), ("r1", env1), args.seconds, 30, args.size)
            cross = run_case(state, ("r1", env1), ("r2", env2), args.seconds, 10, args.size)
            rows.append((name, local, cross))
        from overlay_bringup.components import find_component
        if find_component("zenohd") is not None:
            envs, bridges = zenoh_bridges(state, ("r1", "r2"), DOMAIN)
            try:
                local = run_case(state, ("r1", envs["r1"]), ("r1", envs["r1"]), args.seconds,
                                 30, args.size)
                cross = run_case(state, ("r1", envs["r1"]), ("r2", envs["r2"]), args.seconds,
                                 10, args.size)
                rows.append(("zenoh-bridge (defaults, LOCALHOST)", local, cross))
            finally:
                proc.terminate(b.pid for b in bridges)
    finally:
        lab_down(PREFIX)
    print(f"{args.size} B messages; local: two nodes on r1 at 30 Hz; overlay: r1 -> r2 at 10 Hz")
    print(f"{'layout':34} {'local got':>10} {'CPU x def':>9} {'lat ms':>7}   "
          f"{'overlay got':>11} {'lat ms':>7}")
    for name, local, cross in rows:
        ratio = local["talker_cpu_s"] / base["talker_cpu_s"]
        over = (f"{cross['received']:>5}/{cross['sent']:<5} {cross['latency_ms_median']!s:>7}"
                if cross else f"{'-':>11} {'-':>7}")
        print(f"{name:34} {local['received']:>4}/{local['sent']:<5} {ratio:>9.2f} "
              f"{local['latency_ms_median']!s:>7}   {over}")


if __name__ == "__main__":
    main()
