"""One link test against a target over the overlay (and optionally its underlay address)."""
from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import InputError, OverlayError
from ..ping_stats import icmp_rtt
from .client import ThroughputResult, iperf3_throughput, tcp_throughput, udp_rtt, udp_throughput
from .dataset import LinkTestRecord
from .metrics import rtt_increase_pct, throughput_loss_pct
from .protocol import DEFAULT_PORT


@dataclass(frozen=True)
class LinkTestOptions:
    port: int = DEFAULT_PORT
    count: int = 20
    interval_s: float = 0.2
    duration_s: float = 5.0
    streams: int = 1
    udp_bitrate_bps: float = 10e6
    tool: str = "auto"          # auto | builtin | iperf3
    location: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.count <= 1000:
            problems.append(f"ping count {self.count} is out of range (1..1000)")
        if not 0.01 <= self.interval_s <= 10:
            problems.append(f"ping interval {self.interval_s:g} s is out of range (0.01..10)")
        if not 0.2 <= self.duration_s <= 60:
            problems.append(f"duration {self.duration_s:g} s is out of range (0.2..60)")
        if not 1 <= self.streams <= 16:
            problems.append(f"streams {self.streams} is out of range (1..16)")
        if self.tool not in ("auto", "builtin", "iperf3"):
            problems.append(f"tool {self.tool!r} is not auto, builtin or iperf3")
        if problems:
            raise InputError("; ".join(problems))


def _versions() -> dict[str, str]:
    versions = {}
    if shutil.which("iperf3"):
        out = subprocess.run(["iperf3", "--version"], capture_output=True, text=True).stdout
        versions["iperf3"] = out.split("\n", 1)[0].strip()
    return versions


def _throughput(target: str, options: LinkTestOptions) -> tuple[ThroughputResult, ThroughputResult]:
    use_iperf = options.tool == "iperf3" or (options.tool == "auto" and shutil.which("iperf3"))
    if use_iperf:
        try:
            return (iperf3_throughput(target, options.duration_s, options.streams),
                    iperf3_throughput(target, options.duration_s, udp_bitrate=options.udp_bitrate_bps))
        except OverlayError:
            if options.tool == "iperf3":
                raise
    return (tcp_throughput(target, options.port, options.duration_s, options.streams),
            udp_throughput(target, options.port, options.duration_s, options.udp_bitrate_bps))


def measure(target: str, path: str, options: LinkTestOptions,
            connection_state: str = "unknown") -> LinkTestRecord:
    icmp = icmp_rtt(target, options.count, options.interval_s)
    if icmp is not None and icmp[0].received:
        (rtt, samples), rtt_tool = icmp, "ping"
    else:
        # ICMP not permitted (or filtered): the link-test server's UDP echo
        (rtt, samples), rtt_tool = udp_rtt(target, options.port, options.count,
                                           options.interval_s), "udp-echo"
    tcp, udp = _throughput(target, options)
    return LinkTestRecord(
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        location=options.location, target=target, path=path, connection_state=connection_state,
        rtt_tool=rtt_tool, rtt_min_ms=rtt.min_ms, rtt_avg_ms=rtt.avg_ms, rtt_max_ms=rtt.max_ms,
        rtt_mdev_ms=rtt.mdev_ms, rtt_samples_ms=samples, loss_percent=rtt.loss_percent,
        throughput_tool=tcp.tool,
        tcp_bps=tcp.bps, tcp_intervals_bps=tcp.intervals_bps, udp_bps=udp.bps,
        udp_jitter_ms=udp.jitter_ms, udp_loss_percent=udp.loss_percent,
        duration_s=options.duration_s, versions=_versions())


@dataclass(frozen=True)
class Overhead:
    throughput_loss_pct: float
    rtt_increase_pct: float


def overhead(underlay: LinkTestRecord, overlay: LinkTestRecord) -> Overhead:
    return Overhead(throughput_loss_pct(underlay.tcp_bps, overlay.tcp_bps),
                    rtt_increase_pct(underlay.rtt_avg_ms, overlay.rtt_avg_ms))


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}{unit}"
