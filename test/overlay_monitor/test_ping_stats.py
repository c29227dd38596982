import math

import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.ping_stats import parse_ping_output, rtt_stats_from_samples

OK = """PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 407ms
rtt min/avg/max/mdev = 0.040/0.053/0.070/0.012 ms
"""
LOST = """PING 100.64.0.9 (100.64.0.9) 56(84) bytes of data.

--- 100.64.0.9 ping statistics ---
2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 202ms

"""
PARTIAL = """--- 100.64.0.2 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 603ms
rtt min/avg/max/mdev = 42.227/43.290/46.737/1.735 ms, pipe 2
"""


def test_ping_summary_is_parsed():
    stats = parse_ping_output(OK)
    assert (stats.sent, stats.received, stats.loss_percent) == (3, 3, 0.0)
    assert (stats.min_ms, stats.avg_ms, stats.max_ms, stats.mdev_ms) == (0.040, 0.053, 0.070, 0.012)


def test_ping_with_no_reply_has_nan_rtt_not_zero():
    stats = parse_ping_output(LOST)
    assert stats.loss_percent == 100.0 and not stats.reachable
    assert math.isnan(stats.avg_ms) and math.isnan(stats.min_ms)


def test_ping_partial_loss():
    stats = parse_ping_output(PARTIAL)
    assert stats.loss_percent == 25.0 and stats.max_ms == 46.737


def test_ping_garbage_is_rejected_with_its_first_line():
    with pytest.raises(InputError, match="not ping output.*'ping: unknown host'"):
        parse_ping_output("ping: unknown host\n")


def test_stats_from_samples_match_iputils_mdev():
    stats = rtt_stats_from_samples(4, [1.0, 2.0, 3.0])
    assert stats.avg_ms == 2.0 and stats.loss_percent == 25.0
    assert stats.mdev_ms == pytest.approx(math.sqrt(2 / 3))
    assert math.isnan(rtt_stats_from_samples(2, []).avg_ms)
