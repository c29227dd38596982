"""UDP availability from tailscaled's netcheck counters (recorded exposition shape). Pure."""
import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.netcheck import StunCounters, UdpTracker, stun_counters
from overlay_testing import FIXTURES


def _exposition(sent, received, https=0):
    return ("# TYPE netcheck_https_measure counter\n"
            f"netcheck_https_measure {https}\n"
            "# TYPE netcheck_report counter\nnetcheck_report 2\n"
            "# TYPE netcheck_stun_recv_ipv4 counter\n"
            f"netcheck_stun_recv_ipv4 {received}\n"
            "# TYPE netcheck_stun_send_ipv4 counter\n"
            f"netcheck_stun_send_ipv4 {sent}\n")


def _real(name):
    return stun_counters((FIXTURES / "real" / name).read_text())


def test_counters_are_read_from_the_real_exposition():
    counters = _real("localapi_metrics_open.txt")
    assert counters.sent > 0 and counters.received == counters.sent


def test_the_real_readings_open_then_tcp443_say_available_then_blocked():
    """Recorded one after the other on r1: the campus then dropped every UDP packet; two more
    netchecks sent STUN, no reply came, and tailscaled measured over HTTPS instead."""
    open_, blocked = _real("localapi_metrics_open.txt"), _real("localapi_metrics_tcp443.txt")
    assert blocked.sent > open_.sent and blocked.received == open_.received
    assert blocked.https_probes > open_.https_probes
    udp = UdpTracker()
    assert udp.update(open_) is True and udp.update(blocked) is False


def test_tracker_decides_from_what_changed_since_the_last_reading():
    udp = UdpTracker()
    assert udp.update(StunCounters(0, 0, 0)) is None          # no netcheck yet
    assert udp.update(StunCounters(3, 0, 1)) is False         # requests, no reply
    assert udp.update(StunCounters(3, 0, 1)) is False         # nothing new: keep
    assert udp.update(StunCounters(6, 2, 1)) is True          # a reply came
    assert udp.update(StunCounters(9, 2, 2)) is False         # blocked again (roaming)
    assert udp.update(StunCounters(1, 1, 0)) is True          # tailscaled restarted


def test_garbage_is_named():
    with pytest.raises(InputError, match="not Prometheus text"):
        stun_counters("netcheck_stun_send_ipv4 not-a-number\n")
