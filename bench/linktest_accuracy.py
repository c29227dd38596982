"""Benchmark: accuracy of the built-in link test on the same lab WireGuard link, in one run.

- built-in TCP throughput against iperf3 (target >= 0.9x);
- built-in RTT (UDP echo) against ping (target within 5 %);
- with delay and loss on the underlay (the lab's relay and nftables, since there is no netem),
  measured RTT and loss against the configured impairment.
Prints figures; asserts nothing. Needs root (sudo, after `source tools/env.sh`).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from overlay_lab.impairments import parse_impairments
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.topology import plan_lab

PREFIX = "ova"



CLIENT = """
import json, sys
from overlay_monitor.linktest.client import iperf3_throughput, tcp_throughput, udp_rtt
from overlay_monitor.ping_stats import icmp_rtt
target, mode = sys.argv[1], sys.argv[2]
if mode == "tcp":
    b = tcp_throughput(target, 5301, 5.0).bps
    i = iperf3_throughput(target, 5.0).bps
    print(json.dumps({"builtin": b, "iperf3": i}))
else:
    u, _ = udp_rtt(target, 5301, 100, 0.02)
    p, _ = icmp_rtt(target, 100, 0.02)
    print(json.dumps({"udp_avg": u.avg_ms, "udp_loss": u.loss_percent, "ping_avg": p.avg_ms,
                      "ping_loss": p.loss_percent}))
"""


def client(state, robot: str, target: str, mode: str) -> dict:
    argv = robot_exec_argv(state, robot, [sys.executable, "-c", CLIENT, target, mode])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-800:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    delay_ms, loss_pct = 20.0, 2.0
    plan = plan_lab(3, PREFIX, parse_impairments([f"r2:delay={delay_ms:g}ms,loss={loss_pct:g}%"]))
    state = lab_up(plan).state
    servers = []
    try:
        for robot in ("r2", "r3"):
            servers.append(subprocess.Popen(robot_exec_argv(state, robot, [
                sys.executable, "-m", "overlay_monitor.linktest.cli", "serve"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            servers.append(subprocess.Popen(robot_exec_argv(state, robot, ["iperf3", "-s"]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.5)
        tcp = client(state, "r1", "100.64.0.3", "tcp")
        print(f"TCP r1->r3 over WireGuard, 5 s each: built-in {tcp['builtin'] / 1e6:.0f} Mbit/s, "
              f"iperf3 {tcp['iperf3'] / 1e6:.0f} Mbit/s, ratio {tcp['builtin'] / tcp['iperf3']:.2f}"
              " (target >= 0.9)")
        rtt = client(state, "r1", "100.64.0.3", "rtt")
        print(f"RTT r1->r3, 100 probes: UDP echo {rtt['udp_avg']:.3f} ms, ping "
              f"{rtt['ping_avg']:.3f} ms, difference "
              f"{100 * (rtt['udp_avg'] - rtt['ping_avg']) / rtt['ping_avg']:+.1f} % "
              "(target within 5 %)")
        base = rtt["ping_avg"]
        imp = client(state, "r1", "100.64.0.2", "rtt")
        expected_rtt = 2 * delay_ms + base
        expected_loss = 100 * (1 - (1 - loss_pct / 100) ** 2)  # r2's link, once each way
        print(f"impaired r2 (delay {delay_ms:g} ms each way, loss {loss_pct:g} % each way): "
              f"RTT ping {imp['ping_avg']:.1f} ms / UDP echo {imp['udp_avg']:.1f} ms against "
              f"{expected_rtt:.1f} ms expected; loss ping {imp['ping_loss']:.1f} % / UDP "
              f"{imp['udp_loss']:.1f} % against ~{expected_loss:.1f} % expected (100 probes)")
    finally:
        for server in servers:
            server.terminate()
        lab_down(PREFIX)


if __name__ == "__main__":
    main()
