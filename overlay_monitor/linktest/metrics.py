"""Link metrics. Pure.

Overhead is the percent log-change ln(y/x)·100 (symmetric: no baseline has to be chosen), with
the direction stated: throughput loss = ln(TP_underlay / TP_overlay)·100 and RTT increase =
ln(RTT_overlay / RTT_underlay)·100, so both are positive when the overlay is worse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def log_change_pct(x: float, y: float) -> float:
    """ln(y/x)·100; NaN when either value is unknown or not positive."""
    if not (x > 0 and y > 0) or math.isnan(x) or math.isnan(y):
        return math.nan
    return math.log(y / x) * 100.0


def throughput_loss_pct(underlay_bps: float, overlay_bps: float) -> float:
    return log_change_pct(overlay_bps, underlay_bps)


def rtt_increase_pct(underlay_ms: float, overlay_ms: float) -> float:
    return log_change_pct(underlay_ms, overlay_ms)


@dataclass
class UdpReceiveStats:
    """What a UDP receiver measures: loss from sequence numbers, RFC 3550 interarrival jitter
    (J += (|D| - J) / 16, D the change in transit time between consecutive packets, as iperf3
    computes it), reordering, bytes."""

    received: int = 0
    bytes: int = 0
    highest_seq: int = -1
    out_of_order: int = 0
    jitter_s: float = 0.0
    _last_transit: float | None = field(default=None, repr=False)

    def add(self, seq: int, sent_s: float, arrived_s: float, size: int) -> None:
        self.received += 1
        self.bytes += size
        if seq < self.highest_seq:
            self.out_of_order += 1
        self.highest_seq = max(self.highest_seq, seq)
        transit = arrived_s - sent_s
        if self._last_transit is not None:
            self.jitter_s += (abs(transit - self._last_transit) - self.jitter_s) / 16.0
        self._last_transit = transit

    def loss_percent(self, sent: int) -> float:
        if sent <= 0:
            return math.nan
        return max(0.0, 100.0 * (sent - self.received) / sent)
