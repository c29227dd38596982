"""Benchmark: ROS 2 traffic between two nodes on ONE robot (a camera and its consumer), 1 MB
messages at 30 Hz, with Fast DDS's defaults (shared memory + UDP), with the generated overlay
profile (UDPv4 on the overlay address, 1200-byte datagrams), and with that profile plus a
shared-memory transport (the variant tried for local traffic). The ratios are measured side by
side in one run.

Prints figures; asserts nothing. Needs root and the lab (sudo, after `source tools/env.sh`):
    python bench/local_shm.py [--seconds 12] [--rate 30] [--size 1000000]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

from overlay_bringup.lab.ros_demo import chatter_argv, robot_env
from overlay_bringup.lab.runner import lab_down, lab_up
from overlay_bringup.lab.topology import plan_lab

PREFIX = "ovshm"


def run_case(state, env: dict[str, str], seconds: float, rate: float, size: int) -> dict:
    listener = subprocess.Popen(chatter_argv(state, "r1", env, "listen", "--duration",
                                             str(seconds + 3)), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    talk = subprocess.run(chatter_argv(state, "r1", env, "talk", "--duration", str(seconds),
                                       "--rate", str(rate), "--size", str(size)),
                          capture_output=True, text=True, timeout=seconds + 60)
    out, _ = listener.communicate(timeout=seconds + 60)
    heard = json.loads(out.strip().splitlines()[-1])
    sent = json.loads(talk.stdout.strip().splitlines()[-1])
    return {"sent": sent["sent"], "received": heard["received"],
            "talker_cpu_s": sent["cpu_s"], "listener_cpu_s": heard["cpu_s"],
            "latency_ms_median": heard["latency_ms_median"],
            "latency_ms_p95": heard["latency_ms_p95"]}


def with_shm(env: dict[str, str]) -> dict[str, str]:
    """The generated profile plus Fast DDS's shared-memory transport (8 MB segments)."""
    path = env["FASTRTPS_DEFAULT_PROFILES_FILE"]
    text = Path(path).read_text()
    text = text.replace("</transport_descriptors>", "<transport_descriptor><transport_id>shm"
                        "</transport_id><type>SHM</type><segment_size>8388608</segment_size>"
                        "</transport_descriptor></transport_descriptors>", 1)
    text = re.sub(r"(<userTransports>)", r"\1<transport_id>shm</transport_id>", text, count=1)
    shm_path = path.replace(".xml", "_with_shm.xml")
    Path(shm_path).write_text(text)
    return {**env, "FASTRTPS_DEFAULT_PROFILES_FILE": shm_path,
            "FASTDDS_DEFAULT_PROFILES_FILE": shm_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    state = lab_up(plan_lab(2, PREFIX)).state
    try:
        generated = robot_env(state, "r1", "fastdds-peers", domain_id=51)
        cases = {"Fast DDS defaults": {"ROS_DOMAIN_ID": "51",
                                       "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"},
                 "generated profile (UDP on the overlay)": generated,
                 "generated + SHM transport": with_shm(generated)}
        results = {name: run_case(state, env, args.seconds, args.rate, args.size)
                   for name, env in cases.items()}
    finally:
        lab_down(PREFIX)
    base = results["Fast DDS defaults"]["talker_cpu_s"]
    print(f"{args.size} B at {args.rate:g} Hz for {args.seconds:g} s between two nodes on one "
          "robot (lab r1)")
    print(f"{'case':40} {'delivered':>11} {'talker CPU':>11} {'x defaults':>10} "
          f"{'listener CPU':>12} {'latency median/p95':>20}")
    for name, r in results.items():
        print(f"{name:40} {r['received']:>5}/{r['sent']:<5} {r['talker_cpu_s']:>9.2f} s "
              f"{r['talker_cpu_s'] / base:>9.2f}x {r['listener_cpu_s']:>10.2f} s "
              f"{r['latency_ms_median']:>9} / {r['latency_ms_p95']} ms")


if __name__ == "__main__":
    main()
