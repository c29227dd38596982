"""Benchmark: 1 MB ROS 2 messages over the lab's MTU-1280 WireGuard tunnel with 1 % loss on the
underlay, with the generated Fast DDS profile (maxMessageSize under the MTU) against the same
profile with Fast DDS's default datagram size (64 kB, IP-fragmented inside the tunnel).

Prints figures; asserts nothing. Needs root and the lab (sudo, after `source tools/env.sh`):
    python bench/large_messages.py [--seconds 15] [--rate 2] [--size 1000000] [--loss 1]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from overlay_lab.impairments import parse_impairments
from overlay_lab.ros_demo import chatter_argv, discovery_env
from overlay_lab.runner import lab_down, lab_up
from overlay_lab.topology import plan_lab

PREFIX = "ovb"


def run_case(state, envs, seconds: float, rate: float, size: int) -> dict:
    listener = subprocess.Popen(chatter_argv(state, "r2", envs["r2"], "listen", "--duration",
                                             str(seconds + 3)), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    subprocess.run(chatter_argv(state, "r1", envs["r1"], "talk", "--duration", str(seconds),
                                "--rate", str(rate), "--size", str(size)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 60)
    out, _ = listener.communicate(timeout=seconds + 60)
    return json.loads(out.strip().splitlines()[-1])


def with_default_size(envs: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The same profile, but Fast DDS's default UDP datagram size (65500 bytes)."""
    changed = {}
    for robot, env in envs.items():
        path = env["FASTRTPS_DEFAULT_PROFILES_FILE"]
        text = Path(path).read_text()
        default_path = path.replace(".xml", "_default_size.xml")
        Path(default_path).write_text(text.replace("<maxMessageSize>1200</maxMessageSize>",
                                                   "<maxMessageSize>65500</maxMessageSize>"))
        changed[robot] = {**env, "FASTRTPS_DEFAULT_PROFILES_FILE": default_path,
                          "FASTDDS_DEFAULT_PROFILES_FILE": default_path}
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--loss", type=float, default=1.0)
    args = parser.parse_args()
    plan = plan_lab(2, PREFIX, parse_impairments([f"r2:loss={args.loss:g}%"]))
    state = lab_up(plan).state
    try:
        generated = {r: discovery_env(state, r) for r in ("r1", "r2")}
        sent = int(args.seconds * args.rate)
        print(f"{args.size} B messages at {args.rate:g} Hz for {args.seconds:g} s (~{sent} sent), "
              f"{args.loss:g} % loss on r2's underlay, overlay MTU 1280")
        for label, envs in (("generated profile (maxMessageSize 1200)", generated),
                            ("default datagram size (65500)", with_default_size(generated))):
            result = run_case(state, envs, args.seconds, args.rate, args.size)
            print(f"  {label:42s} delivered {result['received']:3d}  "
                  f"(first after {result['first_s']} s)")
    finally:
        lab_down(PREFIX)


if __name__ == "__main__":
    main()
