"""Round-trip statistics, parsing of iputils ``ping`` output into them, and the one place that
runs ``ping`` (``icmp_rtt``: the lab, the WireGuard probe and the link tests all use it).

Like icmplib's Host result: min/avg/max/mdev and loss; an unknown RTT is NaN, never 0.
Everything but ``icmp_rtt`` is pure.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InputError

_SUMMARY = re.compile(r"(?P<tx>\d+) packets transmitted, (?P<rx>\d+) (?:packets )?received")
_RTT = re.compile(r"= (?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)/(?P<mdev>[\d.]+) ms")


@dataclass(frozen=True)
class RttStats:
    sent: int
    received: int
    min_ms: float = math.nan
    avg_ms: float = math.nan
    max_ms: float = math.nan
    mdev_ms: float = math.nan

    @property
    def loss_percent(self) -> float:
        if self.sent == 0:
            return math.nan
        return 100.0 * (self.sent - self.received) / self.sent

    @property
    def reachable(self) -> bool:
        return self.received > 0


def rtt_stats_from_samples(sent: int, rtts_ms: list[float]) -> RttStats:
    """Statistics over the RTTs of the replies received (mdev as iputils computes it)."""
    if not rtts_ms:
        return RttStats(sent=sent, received=0)
    n = len(rtts_ms)
    avg = sum(rtts_ms) / n
    mdev = math.sqrt(max(0.0, sum(r * r for r in rtts_ms) / n - avg * avg))
    return RttStats(sent=sent, received=n, min_ms=min(rtts_ms), avg_ms=avg,
                    max_ms=max(rtts_ms), mdev_ms=mdev)


_SAMPLE = re.compile(r"time[=<](?P<ms>[\d.]+) ms")


def parse_ping_samples(text: str) -> list[float]:
    """The RTT of every reply in iputils ``ping`` output (without ``-q``)."""
    return [float(m["ms"]) for m in _SAMPLE.finditer(text)]


def parse_ping_output(text: str) -> RttStats:
    """Parse the summary of iputils ``ping`` (``-q`` or not)."""
    summary = _SUMMARY.search(text)
    if summary is None:
        first = text.strip().splitlines()[0] if text.strip() else "empty output"
        raise InputError(f"not ping output (no 'packets transmitted' line): {first[:120]!r}")
    sent, received = int(summary["tx"]), int(summary["rx"])
    rtt = _RTT.search(text)
    if rtt is None or received == 0:
        return RttStats(sent=sent, received=received)
    return RttStats(sent=sent, received=received, min_ms=float(rtt["min"]),
                    avg_ms=float(rtt["avg"]), max_ms=float(rtt["max"]),
                    mdev_ms=float(rtt["mdev"]))


def icmp_rtt(host: str, count: int, interval_s: float, timeout_s: float = 2.0,
             prefix: Sequence[str] = ()) -> tuple[RttStats, list[float]] | None:
    """ICMP echo via iputils ping: statistics and every sample; None when ICMP is not
    permitted here. ``prefix`` runs ping through another command (e.g. ``ip netns exec NS``)."""
    if shutil.which("ping") is None:
        return None
    proc = subprocess.run([*prefix, "ping", "-n", "-c", str(count), "-i", f"{interval_s:g}",
                           "-W", f"{timeout_s:g}", host], capture_output=True, text=True,
                          timeout=count * interval_s + timeout_s + 10, check=False)
    if "not permitted" in proc.stderr.lower() or "permission denied" in proc.stderr.lower():
        return None
    return parse_ping_output(proc.stdout), parse_ping_samples(proc.stdout)
