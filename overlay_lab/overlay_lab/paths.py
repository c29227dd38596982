"""The three-path experiment on the real components: direct (open campus), peer relay
(restrictive campus with a relay host) and DERP (restrictive campus, relay down), each measured
against the underlay in one run, under the same underlay impairment.

For every path, robot r1 -> r2:
- a link test (``overlay-linktest run --underlay --tool iperf3``): RTT, jitter, loss, TCP and UDP
  throughput on the overlay and on the underlay;
- ROS 2 messages of each size at 10 Hz (the chatter, reliable QoS) with the generated Fast DDS
  peer profile, over the overlay, and with the same profile bound to the underlay addresses.

The results are one link-test dataset whose overlay and underlay records carry the ROS results,
so ``overlay-linktest report`` shows the three paths side by side.
"""
from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from overlay_monitor.errors import LabError
from overlay_monitor.linktest.dataset import LinkTestRecord, append_records, load_records

from . import proc
from .impairments import Impairment
from .ros_demo import chatter_argv, discovery_env, last_json_line
from .runner import lab_down, lab_up, robot_exec_argv, set_peer_relay, switch_campus
from .state import LabState
from .topology import UNDERLAY_DDS_DOMAIN, Overlay, plan_lab

#: (location suffix, campus, relay up, what `tailscale ping` must say)
PATHS: tuple[tuple[str, str, bool, str], ...] = (
    ("direct", "open", True, r"^\d+\.\d+\.\d+\.\d+:\d+$"),
    ("peer relay", "restrictive", True, r"^peer-relay\("),
    ("DERP", "restrictive", False, r"^DERP\("),
)
MESSAGE_SIZES = (100_000, 1_000_000)
OVERLAY_DOMAIN = 61


@dataclass(frozen=True)
class ExperimentOptions:
    prefix: str = "ovpaths"
    rate_kbit: float = 200_000.0     # each robot's link, each direction (tc tbf)
    loss_percent: float = 0.0
    seconds: float = 8.0             # per ROS message test and per throughput test
    rate_hz: float = 10.0

    @property
    def impairment(self) -> Impairment:
        return Impairment(rate_kbit=self.rate_kbit, loss_percent=self.loss_percent)


def wait_path(state: LabState, source: str, target_ip: str, pattern: str,
               timeout_s: float = 90.0) -> str:
    """`tailscale ping` until the path matches ``pattern``; returns what it said last."""
    deadline = time.monotonic() + timeout_s
    via = ""
    while time.monotonic() < deadline:
        out = proc.run_result(robot_exec_argv(state, source, [
            "tailscale", "ping", "-c", "1", "--until-direct=false", "--timeout", "2s",
            target_ip]), timeout_s=30).stdout
        found = re.findall(r"via (\S+)", out)
        via = found[-1] if found else out.strip()
        if re.search(pattern, via):
            return via
        time.sleep(1.0)
    raise LabError(f"{source} -> {target_ip}: path still {via!r} after {timeout_s:g} s "
                   f"(expected {pattern})")


def ros_messages(state: LabState, envs: tuple[dict[str, str], dict[str, str]], size: int,
                 options: ExperimentOptions) -> dict[str, object]:
    """One chatter test r1 -> r2: what was sent, what arrived and how late."""
    listen = proc.spawn(chatter_argv(state, "r2", envs[1], "listen", "--duration",
                                     str(options.seconds + 4)), stderr=False)
    time.sleep(2.0)
    talk = proc.run_result(chatter_argv(state, "r1", envs[0], "talk", "--duration",
                                        str(options.seconds), "--rate", str(options.rate_hz),
                                        "--size", str(size)), timeout_s=options.seconds + 60)
    out, _ = listen.communicate(timeout=options.seconds + 60)
    heard, sent = last_json_line(out), last_json_line(talk.stdout)
    return {"size_bytes": size, "rate_hz": options.rate_hz,
            "sent": int(str(sent.get("sent", 0))), "received": int(str(heard.get("received", 0))),
            "latency_ms_median": heard.get("latency_ms_median"),
            "latency_ms_p95": heard.get("latency_ms_p95")}


def link_test(state: LabState, location: str, options: ExperimentOptions) -> list[LinkTestRecord]:
    """``overlay-linktest run`` from r1 against r2's server, overlay and underlay."""
    target = state.robot("r2")
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "run.jsonl"
        argv = proc.python_module(
            "overlay_monitor.linktest.cli", "run", "--target", target.overlay_ip, "--underlay",
            target.underlay_ip, "--location", location, "--duration", f"{options.seconds:g}",
            "--count", "30", "--interval", "0.1",
            "--udp-bitrate", str(int(min(options.rate_kbit * 1000 * 0.5, 50e6))),
            "--tool", "iperf3", "--dataset", str(dataset))
        result = proc.run_result(robot_exec_argv(state, "r1", argv), timeout_s=300)
        if result.returncode != 0:
            raise LabError(f"link test {location} failed: {result.stderr.strip()[-400:]}")
        return load_records(dataset)


def run_experiment(options: ExperimentOptions, dataset: Path,
                   say: Callable[[str], None] = print) -> list[LinkTestRecord]:
    """Build the lab, measure the three paths, append every record to ``dataset``."""
    impaired = {"r1": options.impairment, "r2": options.impairment}
    plan = plan_lab(2, options.prefix, impairments=impaired, underlay_tests=True,
                    overlay=Overlay.TAILSCALE, campus="open", peer_relay=True)
    state = lab_up(plan).state
    server = proc.spawn(robot_exec_argv(state, "r2", proc.python_module(
        "overlay_monitor.linktest.cli", "serve")), stderr=False)
    iperf = proc.spawn(robot_exec_argv(state, "r2", ["iperf3", "-s", "-p", "5201"]),
                       stderr=False)
    records: list[LinkTestRecord] = []
    try:
        server.stdout.readline()  # type: ignore[union-attr]  # "serving on …"
        overlay_envs = (discovery_env(state, "r1", domain_id=OVERLAY_DOMAIN),
                        discovery_env(state, "r2", domain_id=OVERLAY_DOMAIN))
        underlay_envs = (discovery_env(state, "r1", domain_id=UNDERLAY_DDS_DOMAIN, underlay=True),
                         discovery_env(state, "r2", domain_id=UNDERLAY_DDS_DOMAIN, underlay=True))
        target_ip = state.robot("r2").overlay_ip
        for name, campus, relay_up, pattern in PATHS:
            switch_campus(options.prefix, campus)
            set_peer_relay(options.prefix, relay_up)
            via = wait_path(state, "r1", target_ip, pattern)
            say(f"{name}: r1 -> r2 via {via}")
            measured = link_test(state, f"r1-r2 {name}", options)
            for record in measured:
                envs = overlay_envs if record.path == "overlay" else underlay_envs
                record.ros_messages = [ros_messages(state, envs, size, options)
                                       for size in MESSAGE_SIZES]
                say(f"  {record.path}: TCP {record.tcp_bps / 1e6:.1f} Mbit/s, RTT "
                    f"{record.rtt_avg_ms:.2f} ms, ROS " + ", ".join(
                        f"{m['size_bytes'] // 1000} kB {m['received']}/{m['sent']}"
                        for m in record.ros_messages))
            append_records(dataset, measured)
            records += measured
    finally:
        for helper in (server, iperf):
            helper.terminate()
            helper.wait(timeout=10)
        lab_down(options.prefix)
    return records
