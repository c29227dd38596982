"""The link-test engine: metrics, protocol checks, and server/client over real loopback
sockets (and iperf3's JSON when iperf3 is installed)."""
import json
import math
import shutil
import subprocess
import time

import pytest

from overlay_monitor.errors import BackendUnavailable, InputError
from overlay_monitor.linktest.client import (
    iperf3_throughput,
    parse_iperf3,
    tcp_throughput,
    udp_rtt,
    udp_throughput,
)
from overlay_monitor.linktest.metrics import (
    UdpReceiveStats,
    log_change_pct,
    rtt_increase_pct,
    throughput_loss_pct,
)
from overlay_monitor.linktest.protocol import validate_request
from overlay_monitor.linktest.server import LinkTestServer
from overlay_testing import free_port_pair


def test_log_change_is_symmetric_and_directed():
    assert log_change_pct(100, 100) == 0
    assert log_change_pct(50, 100) == pytest.approx(-log_change_pct(100, 50))
    # the seed's overlay figures, stated with a positive direction for "worse"
    assert throughput_loss_pct(underlay_bps=100e6, overlay_bps=63e6) == pytest.approx(46.2, abs=0.1)
    assert rtt_increase_pct(underlay_ms=10.0, overlay_ms=12.35) == pytest.approx(21.1, abs=0.1)
    assert math.isnan(log_change_pct(0, 5)) and math.isnan(log_change_pct(math.nan, 5))


def test_rfc3550_jitter_and_loss_from_sequence_numbers():
    stats = UdpReceiveStats()
    # constant transit: no jitter
    for seq in range(10):
        stats.add(seq, sent_s=seq * 0.01, arrived_s=seq * 0.01 + 0.005, size=100)
    assert stats.jitter_s == pytest.approx(0, abs=1e-12) and stats.loss_percent(sent=10) == 0
    # one packet 16 ms late: J = 16 ms / 16 = 1 ms
    stats.add(10, sent_s=0.10, arrived_s=0.10 + 0.005 + 0.016, size=100)
    assert stats.jitter_s == pytest.approx(0.001)
    assert stats.loss_percent(sent=12) == pytest.approx(100 / 12)
    stats.add(3, sent_s=0.03, arrived_s=0.2, size=100)
    assert stats.out_of_order == 1


@pytest.mark.parametrize("request_, message", [
    ({"test": "icmp"}, "test 'icmp' is not tcp or udp"),
    ({"test": "tcp", "duration_s": 600}, "duration_s 600 is out of range"),
    ({"test": "tcp", "streams": 0}, "streams 0 is out of range"),
    ({"test": "udp", "bitrate_bps": 10}, "bitrate_bps 10 is out of range"),
    ({"test": "udp", "size": 4}, "size 4 is out of range"),
])
def test_requests_are_bounded(request_, message):
    with pytest.raises(InputError, match=message):
        validate_request(request_)


@pytest.fixture
def server():
    srv = LinkTestServer("127.0.0.1", 0).start()
    yield srv
    srv.stop()


def test_udp_echo_rtt_over_loopback(server):
    stats, samples = udp_rtt("127.0.0.1", server.port, count=5, interval_s=0.02)
    assert stats.received == 5 and 0 < stats.avg_ms < 100 and len(samples) == 5


def test_tcp_and_udp_throughput_over_loopback(server):
    tcp = tcp_throughput("127.0.0.1", server.port, duration_s=0.5, streams=2)
    assert tcp.bps > 10e6 and tcp.tool == "builtin" and tcp.intervals_bps
    udp = udp_throughput("127.0.0.1", server.port, duration_s=0.5, bitrate_bps=5e6)
    assert udp.loss_percent == 0 and udp.jitter_ms < 50
    assert udp.bps == pytest.approx(5e6, rel=0.3)


def test_a_busy_server_refuses_a_second_test_clearly(server):
    import threading
    first = threading.Thread(target=tcp_throughput, args=("127.0.0.1", server.port, 1.5))
    first.start()
    time.sleep(0.3)
    try:
        with pytest.raises(BackendUnavailable, match="busy: another link test is running"):
            tcp_throughput("127.0.0.1", server.port, 0.5)
    finally:
        first.join()


def test_no_server_is_a_clear_error():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable, match="is 'overlay-linktest serve' running there"):
        tcp_throughput("127.0.0.1", port, 0.5)


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 not installed")
def test_iperf3_json_from_a_real_iperf3_on_loopback():
    port = free_port_pair()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port), "-B", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        result = iperf3_throughput("127.0.0.1", 1.0, port=port)
    finally:
        server.kill()
        server.wait()
    assert result.tool == "iperf3" and result.bps > 10e6 and result.intervals_bps


def test_iperf3_json_errors_and_udp_fields():
    with pytest.raises(BackendUnavailable, match="iperf3: unable to connect"):
        parse_iperf3({"error": "unable to connect to server"}, udp=False)
    udp = parse_iperf3(json.loads(json.dumps({"intervals": [], "end": {"sum": {
        "bits_per_second": 1e6, "seconds": 5.0, "jitter_ms": 0.4, "lost_percent": 1.5}}})), udp=True)
    assert (udp.jitter_ms, udp.loss_percent) == (0.4, 1.5)
    with pytest.raises(InputError, match="iperf3 JSON has no 'end' field"):
        parse_iperf3({"start": {}}, udp=False)
