"""Benchmark: how the overlay, the single DERP and each discovery mode behave as the fleet grows.

For each campus and each fleet size N it builds the real-component lab (headscale with its
embedded DERP, one tailscaled per robot) and measures:

1. the control plane: `up` until every robot is Running (and each join), headscale's CPU seconds
   and peak memory, and netmap propagation: one robot's tailscaled stopped until every other
   robot lists it offline, then started again until every other one lists it online;
2. discovery traffic per robot on tailscale0 for each mode, idle, with ``--nodes`` nodes per
   robot (each its own participant with one publisher and one subscriber), against a baseline
   without ROS (tailscaled's own traffic); and, with the modes running, the time from a late
   talker's start on the last robot to its first message on r1;
3. the single DERP (restrictive campus only, where every pair is relayed): K pairs at once, each
   an iperf3 TCP stream through the embedded DERP: aggregate and per-pair throughput, fairness
   (slowest pair / mean) and headscale's CPU while they run; then the same K again on a lab
   where half the robots home in a second DERP region (the real derper; the pairs alternate
   between the regions) and on a lab with the peer relay, which carries the pairs instead;
4. the monitor at fleet size: the CPU time of one monitor cycle on r1's real status (N-1
   peers, 30 successive readings of its LocalAPI), beside bench/monitor_cycle.py's synthetic
   status of the same peer count, in the same run.

Prints figures as it goes and writes ``fleet_scale.json`` (the dataset) and ``fleet_scale.md``
(the report) into ``--out``. Asserts nothing. Needs root and the built components:
    sudo -E python bench/fleet_scale.py --sizes 5,10,20,40 --out bench-results/fleet
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from overlay_bringup.components import find_component, zenoh_plugin_dir
from overlay_lab import proc
from overlay_lab.ros_demo import chatter_argv, last_json_line, mode_envs
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.services import server_out
from overlay_lab.state import HEADSCALE, LabState, TailscaleRobot, save_state
from overlay_lab.tailnet import member_dir, start_tailscaled
from overlay_lab.topology import plan_lab
from overlay_monitor.backends.tailscale import LocalAPIClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monitor_cycle import cycle_cost_ms, make_statuses  # noqa: E402  (bench/monitor_cycle.py)

PREFIX = "ovfs"
DOMAIN = 61
MODES = ("baseline", "fastdds-peers", "static-peers", "fastdds-server", "zenoh-bridge")


def headscale_usage(state: LabState) -> dict[str, float]:
    """headscale's CPU seconds so far and its peak resident memory (VmHWM)."""
    process = psutil.Process(state.service(HEADSCALE))
    times = process.cpu_times()
    peak_kb = 0
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
    return {"cpu_s": round(times.user + times.system, 2), "peak_mib": round(peak_kb / 1024, 1)}


def _online_view(state: LabState, observer: str, target: str) -> bool | None:
    """Whether ``observer``'s tailscaled lists ``target`` online (None: not in its netmap)."""
    socket = member_dir(state.prefix, observer) / "run" / "tailscaled.sock"
    try:
        with LocalAPIClient(str(socket), timeout_s=2.0) as client:
            status = client.status_json()
    except Exception:  # a busy tailscaled: no answer this round
        return None
    for peer in (status.get("Peer") or {}).values():
        if peer.get("HostName") == target:
            return bool(peer.get("Online"))
    return None


def wait_everyone_sees(state: LabState, target: str, online: bool, timeout_s: float = 120.0
                       ) -> float | None:
    """Seconds until every other robot lists ``target`` as ``online``; None on timeout."""
    started = time.monotonic()
    observers = [r.name for r in state.robots if r.name != target]
    pending = set(observers)
    with ThreadPoolExecutor(8) as pool:
        while pending and time.monotonic() - started < timeout_s:
            views = dict(zip(pending, pool.map(lambda o: _online_view(state, o, target), pending),
                             strict=True))
            pending = {o for o, seen in views.items() if seen is not online}
            if pending:
                time.sleep(0.2)
    return None if pending else round(time.monotonic() - started, 2)


def propagation(state: LabState) -> dict[str, float | None]:
    """The last robot leaves (its tailscaled stopped) and comes back (started again)."""
    target = state.robot_as(state.robots[-1].name, TailscaleRobot)
    proc.stop(target.tailscaled_pid)
    offline = wait_everyone_sees(state, target.name, online=False)
    target.tailscaled_pid = start_tailscaled(
        state.prefix, target.name, target.namespace, server_out(state.prefix) / "tls" / "ca.crt")
    save_state(state)
    online = wait_everyone_sees(state, target.name, online=True)
    return {"leave_offline_everywhere_s": offline, "back_online_everywhere_s": online}


def monitor_cost(state: LabState, readings: int = 30) -> dict[str, float]:
    """CPU ms of one monitor cycle on r1's real status, and on a synthetic one of as many peers."""
    socket = member_dir(state.prefix, "r1") / "run" / "tailscaled.sock"
    texts = []
    with LocalAPIClient(str(socket), timeout_s=5.0) as client:
        for _ in range(readings):
            texts.append(json.dumps(client.status_json()))
            time.sleep(0.05)
    peers = len(json.loads(texts[0]).get("Peer") or {})
    real_ms, real_parse = cycle_cost_ms(texts, with_msgs=True)
    synthetic_ms, synthetic_parse = cycle_cost_ms(make_statuses(peers, readings, 0.2),
                                                  with_msgs=True)
    return {"peers": peers, "real_cycle_ms": round(real_ms, 3),
            "synthetic_cycle_ms": round(synthetic_ms, 3),
            "real_over_synthetic": round(real_ms / synthetic_ms, 2) if synthetic_ms else 0.0,
            "real_json_loads_ms": round(real_parse, 3),
            "synthetic_json_loads_ms": round(synthetic_parse, 3)}


def tx_rx(state: LabState, robot: str) -> tuple[int, int, int, int]:
    """tailscale0's byte and packet counters in ``robot``: tx bytes, tx packets, rx ..."""
    me = state.robot(robot)
    out = subprocess.run(["ip", "-n", me.namespace, "-s", "-j", "link", "show", "dev",
                          me.interface], capture_output=True, text=True, check=True, timeout=10)
    stats = json.loads(out.stdout)[0]["stats64"]
    return (stats["tx"]["bytes"], stats["tx"]["packets"], stats["rx"]["bytes"],
            stats["rx"]["packets"])


def _mode_envs(state: LabState, mode: str) -> tuple[dict[str, dict[str, str]], list[int]]:
    """Each robot's ROS environment for ``mode``, and the pids of what the mode needs running
    (the bridges, the discovery server); nothing for the baseline."""
    if mode == "baseline":
        return {}, []
    return mode_envs(state, mode, DOMAIN)


def _env_words(env: dict[str, str]) -> list[str]:
    return ["env", *(f"{k}={v}" for k, v in sorted(env.items()))]


def late_joiner_s(state: LabState, envs: dict[str, dict[str, str]]) -> float | None:
    """A listener on r1, then a talker on the last robot: seconds from the talker's start to
    its first message on r1."""
    last = state.robots[-1].name
    listener = proc.spawn(chatter_argv(state, "r1", envs["r1"], "listen", "--duration", "14"),
                          stderr=False)
    time.sleep(3.0)
    started = time.time()
    talker = proc.spawn(chatter_argv(state, last, envs[last], "talk", "--duration", "10"),
                        stderr=False)
    try:
        heard = last_json_line(listener.communicate(timeout=60)[0])
        talker.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # a saturated machine: the chatter never finished
        proc.terminate([listener.pid, talker.pid])
        return None
    first = heard.get("first_wall")
    return round(float(first) - started, 2) if isinstance(first, (int, float)) else None


def discovery(state: LabState, mode: str, nodes: int, warmup_s: float, window_s: float
              ) -> dict[str, Any]:
    robots = [r.name for r in state.robots]
    envs, helpers = _mode_envs(state, mode)
    idle = []
    if mode != "baseline":
        idle = [proc.spawn(robot_exec_argv(state, r, [
            *_env_words(envs[r]), *proc.python_module(
                "overlay_lab.idle_nodes", "--nodes", str(nodes), "--duration",
                str(warmup_s + window_s + 60))]), stderr=False) for r in robots]
    try:
        time.sleep(warmup_s)
        with ThreadPoolExecutor(8) as pool:
            before = dict(zip(robots, pool.map(lambda r: tx_rx(state, r), robots), strict=True))
            psutil.cpu_percent()  # starts the machine's CPU count for this window
            time.sleep(window_s)
            cpu_percent = psutil.cpu_percent()
            after = dict(zip(robots, pool.map(lambda r: tx_rx(state, r), robots), strict=True))
        per_robot = {r: [(after[r][i] - before[r][i]) / window_s for i in range(4)]
                     for r in robots}
        late = late_joiner_s(state, envs) if mode != "baseline" else None
    finally:
        proc.terminate([p.pid for p in idle] + helpers, grace_s=3.0)
        for process in idle:
            process.communicate(timeout=30)
    columns = ("tx_bytes_per_s", "tx_packets_per_s", "rx_bytes_per_s", "rx_packets_per_s")
    return {"mode": mode, "nodes_per_robot": nodes if mode != "baseline" else 0,
            **{c: round(statistics.mean(v[i] for v in per_robot.values()), 1)
               for i, c in enumerate(columns)},
            "tx_bytes_per_s_max": round(max(v[0] for v in per_robot.values()), 1),
            # the whole machine (2 cores here): near 100 % the figures are what it could carry
            "machine_cpu_percent": cpu_percent,
            "late_joiner_first_message_s": late}


def _iperf_bps(text: str) -> float:
    try:
        return float(json.loads(text)["end"]["sum_received"]["bits_per_second"])
    except (ValueError, KeyError):
        return 0.0


def derp_pairs(state: LabState, k: int, seconds: float,
               pairs: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """K iperf3 TCP streams at once, r1->r2, r3->r4, … (or the first K of ``pairs``), all
    relayed (the campus lets no UDP between robots)."""
    if pairs is None:
        pairs = [(state.robots[2 * i].name, state.robots[2 * i + 1].name) for i in range(k)]
    pairs = pairs[:k]
    servers = [proc.spawn(robot_exec_argv(state, dst, ["iperf3", "-s", "-1", "-p", "5201"]),
                          stderr=False) for _, dst in pairs]
    time.sleep(1.0)
    head = psutil.Process(state.service(HEADSCALE))
    cpu_before = sum(head.cpu_times()[:2])
    wall_before = time.monotonic()

    def stream(pair: tuple[str, str]) -> float:
        src, dst = pair
        out = subprocess.run(robot_exec_argv(state, src, [
            "iperf3", "-c", state.robot(dst).overlay_ip, "-p", "5201", "-t", f"{seconds:g}",
            "-J"]), capture_output=True, text=True, timeout=seconds + 60)
        return _iperf_bps(out.stdout)

    with ThreadPoolExecutor(len(pairs)) as pool:
        rates = list(pool.map(stream, pairs))
    cpu = sum(head.cpu_times()[:2]) - cpu_before
    wall = time.monotonic() - wall_before
    proc.terminate([s.pid for s in servers])
    mbit = [r / 1e6 for r in rates]
    mean = statistics.mean(mbit) if mbit else 0.0
    return {"pairs": k, "aggregate_mbit_s": round(sum(mbit), 1),
            "per_pair_mbit_s": [round(m, 1) for m in mbit],
            "fairness_min_over_mean": round(min(mbit) / mean, 2) if mean else 0.0,
            "headscale_cpu_percent": round(100 * cpu / wall, 1)}


def run_size(campus: str, size: int, args: argparse.Namespace,
             say: Callable[[str], None]) -> dict[str, Any]:
    prefix = f"{PREFIX}{size}"[:8]
    started = time.monotonic()
    result = lab_up(plan_lab(size, prefix, overlay="tailscale", campus=campus))
    up_s = round(time.monotonic() - started, 1)
    state = result.state
    joins = sorted(result.join_times_s.values())
    row: dict[str, Any] = {"campus": campus, "robots": size, "up_s": up_s,
                           "join_s_median": round(statistics.median(joins), 2) if joins else None,
                           "join_s_max": round(max(joins), 2) if joins else None,
                           "headscale_after_up": headscale_usage(state)}
    say(f"{campus} N={size}: up {up_s} s, joins median {row['join_s_median']} s, max "
        f"{row['join_s_max']} s, headscale {row['headscale_after_up']}")
    try:
        row["propagation"] = propagation(state)
        say(f"  propagation: {row['propagation']}")
        row["monitor"] = monitor_cost(state)
        say(f"  monitor cycle: {row['monitor']}")
        row["discovery"] = []
        for mode in args.modes:
            if size > args.discovery_max:
                break
            figures = discovery(state, mode, args.nodes, args.warmup, args.window)
            row["discovery"].append(figures)
            say(f"  discovery {mode}: {figures['tx_bytes_per_s']:.0f} B/s tx, "
                f"{figures['tx_packets_per_s']:.1f} pkt/s per robot; late joiner "
                f"{figures['late_joiner_first_message_s']} s")
        row["derp"] = []
        if campus == "restrictive":
            for k in args.pairs:
                if 2 * k > size:
                    break
                figures = derp_pairs(state, k, args.iperf_seconds)
                row["derp"].append(figures)
                say(f"  DERP K={k}: {figures['aggregate_mbit_s']} Mbit/s in all, per pair "
                    f"{figures['per_pair_mbit_s']}, fairness {figures['fairness_min_over_mean']}"
                    f", headscale CPU {figures['headscale_cpu_percent']} %")
        row["headscale_at_end"] = headscale_usage(state)
    finally:
        lab_down(prefix)
    if campus == "restrictive" and args.peer_relay and row["derp"]:
        row["peer_relay"] = relayed_pairs(size, args, say)
    if campus == "restrictive" and args.derp_region and row["derp"] and size >= 4:
        row["derp_region"] = two_region_pairs(size, args, say)
    return row


def two_region_pairs(size: int, args: argparse.Namespace, say: Callable[[str], None]
                     ) -> list[dict[str, Any]]:
    """The DERP figures again with a second DERP region (the real derper) where half the
    robots home: the pairs alternate between the two regions, so each DERP carries half."""
    prefix = f"{PREFIX}d{size}"[:8]
    half = size // 2
    state = lab_up(plan_lab(size, prefix, overlay="tailscale", campus="restrictive",
                            derp_region=True, library_robots=half)).state
    names = [r.name for r in state.robots]
    campus, library = names[:size - half], names[size - half:]
    pairs = []
    for j in range(max(len(campus), len(library)) // 2):
        for group in (campus, library):
            if 2 * j + 1 < len(group):
                pairs.append((group[2 * j], group[2 * j + 1]))
    rows = []
    try:
        time.sleep(3.0)  # the library robots home in the second region
        for k in args.pairs:
            if k > len(pairs):
                break
            figures = derp_pairs(state, k, args.iperf_seconds, pairs)
            rows.append(figures)
            say(f"  two DERP regions K={k}: {figures['aggregate_mbit_s']} Mbit/s in all, per "
                f"pair {figures['per_pair_mbit_s']}, fairness "
                f"{figures['fairness_min_over_mean']}")
    finally:
        lab_down(prefix)
    return rows


def relayed_pairs(size: int, args: argparse.Namespace, say: Callable[[str], None]
                  ) -> list[dict[str, Any]]:
    """The DERP figures again on a lab with the peer relay (it carries the pairs instead)."""
    prefix = f"{PREFIX}r{size}"[:8]
    state = lab_up(plan_lab(size, prefix, overlay="tailscale", campus="restrictive",
                            peer_relay=True)).state
    rows = []
    try:
        time.sleep(3.0)  # the relay's endpoint reaches every netmap
        for k in args.pairs:
            if 2 * k > size:
                break
            figures = derp_pairs(state, k, args.iperf_seconds)
            rows.append(figures)
            say(f"  peer relay K={k}: {figures['aggregate_mbit_s']} Mbit/s in all, per pair "
                f"{figures['per_pair_mbit_s']}, fairness {figures['fairness_min_over_mean']}")
    finally:
        lab_down(prefix)
    return rows


def report(data: dict[str, Any]) -> str:
    lines = ["# Fleet scale", "", f"Command: `{data['command']}`", "",
             "## Control plane", "",
             "| campus | robots | up s | join median s | join max s | headscale CPU s (up) | "
             "headscale peak MiB | offline everywhere s | online again s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in data["runs"]:
        prop = row.get("propagation", {})
        lines.append(f"| {row['campus']} | {row['robots']} | {row['up_s']} | "
                     f"{row['join_s_median']} | {row['join_s_max']} | "
                     f"{row['headscale_after_up']['cpu_s']} | "
                     f"{row.get('headscale_at_end', row['headscale_after_up'])['peak_mib']} | "
                     f"{prop.get('leave_offline_everywhere_s')} | "
                     f"{prop.get('back_online_everywhere_s')} |")
    lines += ["", "## Discovery traffic per robot on tailscale0 (idle, "
              f"{data['nodes_per_robot']} nodes per robot; baseline = no ROS)", "",
              "| campus | robots | mode | tx B/s | tx pkt/s | rx B/s | ROS tx B/s over baseline "
              "| late joiner first message s | machine CPU % |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in data["runs"]:
        base = next((d["tx_bytes_per_s"] for d in row.get("discovery", [])
                     if d["mode"] == "baseline"), 0.0)
        for d in row.get("discovery", []):
            lines.append(f"| {row['campus']} | {row['robots']} | {d['mode']} | "
                         f"{d['tx_bytes_per_s']:.0f} | {d['tx_packets_per_s']:.1f} | "
                         f"{d['rx_bytes_per_s']:.0f} | "
                         f"{max(0.0, d['tx_bytes_per_s'] - base):.0f} | "
                         f"{d['late_joiner_first_message_s']} | "
                         f"{d.get('machine_cpu_percent', '')} |")
    lines += ["", "## The single DERP (restrictive campus: every pair relayed)", "",
              "| robots | relay | pairs K | aggregate Mbit/s | per pair Mbit/s | slowest/mean | "
              "headscale CPU % |", "|---|---|---|---|---|---|---|"]
    for row in data["runs"]:
        for relay, key in (("DERP", "derp"), ("two DERP regions", "derp_region"),
                           ("peer relay", "peer_relay")):
            for d in row.get(key, []):
                lines.append(f"| {row['robots']} | {relay} | {d['pairs']} | "
                             f"{d['aggregate_mbit_s']} | "
                             f"{', '.join(map(str, d['per_pair_mbit_s']))} | "
                             f"{d['fairness_min_over_mean']} | {d['headscale_cpu_percent']} |")
    lines += ["", "## The monitor at fleet size (CPU ms per cycle, r1's real status beside a "
              "synthetic one of as many peers)", "",
              "| campus | robots | peers | real ms | synthetic ms | real/synthetic |",
              "|---|---|---|---|---|---|"]
    for row in data["runs"]:
        m = row.get("monitor")
        if m:
            lines.append(f"| {row['campus']} | {row['robots']} | {m['peers']} | "
                         f"{m['real_cycle_ms']} | {m['synthetic_cycle_ms']} | "
                         f"{m['real_over_synthetic']} |")
    return "\n".join(lines) + "\n"


def plots(data: dict[str, Any], out: Path) -> list[Path]:
    """Discovery bytes per robot against N per mode (log axes), DERP and peer-relay throughput
    against K, and propagation times against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def _save(fig: Any, ax: Any, path: Path) -> Path:
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    written = []
    runs = data["runs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode in MODES[1:]:
        for campus, style in (("restrictive", "-o"), ("open", "--s")):
            points = [(r["robots"], d["tx_bytes_per_s"]) for r in runs if r["campus"] == campus
                      for d in r.get("discovery", []) if d["mode"] == mode]
            if points:
                ax.plot(*zip(*sorted(points), strict=True), style, label=f"{mode} ({campus})")
    ax.set(xscale="log", yscale="log", xlabel="robots", ylabel="discovery tx bytes/s per robot",
           title=f"Idle discovery, {data['nodes_per_robot']} nodes per robot")
    written.append(_save(fig, ax, out / "fleet_discovery.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        for relay, key, style in (("DERP", "derp", "-o"), ("two DERP regions", "derp_region", ":^"),
                                  ("peer relay", "peer_relay", "--s")):
            points = [(d["pairs"], d["aggregate_mbit_s"]) for d in r.get(key, [])]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=f"{relay}, {r['robots']} robots")
    ax.set(xscale="log", yscale="log", xlabel="pairs at once (K)",
           ylabel="aggregate Mbit/s", title="Relayed TCP streams: one DERP against the peer relay")
    ax.set_xticks([1, 2, 4, 8], labels=["1", "2", "4", "8"])
    written.append(_save(fig, ax, out / "fleet_relays.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for campus in ("restrictive", "open"):
        rows = sorted((r["robots"], r["propagation"]) for r in runs
                      if r["campus"] == campus and "propagation" in r)
        if rows:
            ax.plot([n for n, _ in rows], [p["leave_offline_everywhere_s"] for _, p in rows],
                    "-o", label=f"offline everywhere ({campus})")
            ax.plot([n for n, _ in rows], [p["back_online_everywhere_s"] for _, p in rows],
                    "--s", label=f"online again everywhere ({campus})")
    ax.set(xlabel="robots", ylabel="seconds", title="Netmap propagation")
    written.append(_save(fig, ax, out / "fleet_propagation.png"))
    return written


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole "
                                         "numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers >= 1")
    return values


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(unknown)}; expected some "
                                         f"of {', '.join(MODES)}")
    return modes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints, default=[5, 10, 20, 40])
    parser.add_argument("--campuses", default="restrictive,open")
    parser.add_argument("--modes", type=_modes, default=list(MODES))
    parser.add_argument("--discovery-max", type=int, default=20,
                        help="measure discovery up to this many robots (default 20)")
    parser.add_argument("--nodes", type=int, default=3, help="idle nodes per robot")
    parser.add_argument("--warmup", type=float, default=15.0, help="s before counting")
    parser.add_argument("--window", type=float, default=20.0, help="s counted")
    parser.add_argument("--pairs", type=_ints, default=[1, 2, 4, 8], help="DERP pairs K")
    parser.add_argument("--iperf-seconds", type=float, default=8.0)
    parser.add_argument("--peer-relay", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the K pairs through the peer relay (default on)")
    parser.add_argument("--derp-region", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the K pairs with a second DERP region where half "
                             "the robots home (default on)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/fleet"))
    parser.add_argument("--keep", type=Path, help="a dataset of an earlier run: its runs come "
                        "first in this one's dataset and report")
    parser.add_argument("--report-only", action="store_true",
                        help="with --keep: only write the report and plots of that dataset")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 and not args.report_only:
        parser.error("needs root (network namespaces): sudo -E python bench/fleet_scale.py")
    if "zenoh-bridge" in args.modes:
        zenohd = find_component("zenohd")
        if zenohd is None or zenoh_plugin_dir(zenohd) is None:
            print("fleet_scale: zenohd and its plugin are not built: zenoh-bridge left out",
                  file=sys.stderr)
            args.modes = [m for m in args.modes if m != "zenoh-bridge"]
    campuses = [c.strip() for c in args.campuses.split(",") if c.strip()]
    data: dict[str, Any] = {"command": "python bench/fleet_scale.py " + " ".join(
        sys.argv[1:] if argv is None else argv), "nodes_per_robot": args.nodes, "runs": []}
    if args.keep is not None:
        kept = json.loads(args.keep.read_text())
        data["runs"] = kept["runs"]
        data["command"] = f"{kept['command']}; then {data['command']}"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        if args.keep is None:
            parser.error("--report-only needs --keep DATASET")
        data["command"] = json.loads(args.keep.read_text())["command"]
        campuses = []
    for campus in campuses:
        for size in args.sizes:
            data["runs"].append(run_size(campus, size, args, lambda t: print(t, flush=True)))
            (args.out / "fleet_scale.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "fleet_scale.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "fleet_scale.md").write_text(report(data))
    images = plots(data, args.out)
    print(f"wrote {args.out / 'fleet_scale.json'}, {args.out / 'fleet_scale.md'} and "
          f"{', '.join(p.name for p in images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
