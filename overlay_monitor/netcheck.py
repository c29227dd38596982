"""Is UDP usable on this network? Read from tailscaled's own netcheck counters. Pure.

tailscaled runs a netcheck now and then: STUN over UDP to the DERP regions' STUN ports, and
HTTPS latency probes when no STUN reply comes. Its client metrics (LocalAPI ``/metrics``) count
STUN requests sent and replies received (``netcheck_stun_send_ipv4``,
``netcheck_stun_recv_ipv4``). Requests sent with no reply since the last reading: UDP is
blocked here, and every link goes through DERP over TCP 443.
"""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from .errors import InputError

SENT, RECEIVED, HTTPS = ("netcheck_stun_send_ipv4", "netcheck_stun_recv_ipv4",
                         "netcheck_https_measure")


@dataclass(frozen=True)
class StunCounters:
    sent: int
    received: int
    https_probes: int


def stun_counters(exposition: str) -> StunCounters:
    """The netcheck counters of a client-metrics exposition (missing ones count 0)."""
    values: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(exposition):
            # by family: the parser names a counter's sample <family>_total
            for sample in family.samples:
                values[family.name] = sample.value
    except ValueError as err:
        raise InputError(f"tailscaled's client metrics are not Prometheus text ({err})") from None
    return StunCounters(int(values.get(SENT, 0)), int(values.get(RECEIVED, 0)),
                        int(values.get(HTTPS, 0)))


class UdpTracker:
    """UDP availability from successive readings: True (a STUN reply came), False (requests
    went out and none came back), None (no netcheck yet)."""

    def __init__(self) -> None:
        self._previous: StunCounters | None = None
        self.available: bool | None = None

    def update(self, counters: StunCounters) -> bool | None:
        previous, self._previous = self._previous, counters
        if previous is None or counters.sent < previous.sent:  # first reading, or a restart
            if counters.sent:
                self.available = counters.received > 0
            return self.available
        if counters.received > previous.received:
            self.available = True
        elif counters.sent > previous.sent:
            self.available = False
        return self.available
