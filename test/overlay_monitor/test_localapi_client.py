"""The LocalAPI client against the stand-in tailscaled over a real unix socket."""
import math

import pytest

from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import BackendProtocolError, BackendUnavailable
from overlay_monitor.models import LinkState
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, ping_result, status


@pytest.fixture
def daemon(tmp_path):
    fake = FakeTailscaled(tmp_path / "tailscaled.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2")]),
             pings={"100.64.0.2": ping_result("100.64.0.2", latency_s=0.005)})
    fake.start()
    yield fake
    fake.stop()


def test_localapi_status_over_the_socket_with_the_localapi_host_header(daemon):
    with LocalAPIClient(daemon.socket_path) as client:
        snap = client.snapshot()
    assert [p.hostname for p in snap.peers] == ["robot2"]
    assert snap.peers[0].state is LinkState.DIRECT
    # the status, then (at most every UDP_READ_EVERY_S) the netcheck counters
    assert daemon.requests() == [{"method": "GET", "path": path, "host": "local-tailscaled.sock"}
                                 for path in ("/localapi/v0/status", "/localapi/v0/metrics")]


def test_localapi_disco_ping(daemon):
    with LocalAPIClient(daemon.socket_path) as client:
        outcome = client.ping("100.64.0.2")
        missing = client.ping("100.64.0.77")
    assert outcome.latency_ms == pytest.approx(5.0)
    assert missing.error == "no matching peer" and math.isnan(missing.latency_ms)
    assert daemon.requests()[0] == {"method": "POST", "host": "local-tailscaled.sock",
                                    "path": "/localapi/v0/ping?ip=100.64.0.2&type=disco"}


def test_localapi_missing_socket_says_so(tmp_path):
    client = LocalAPIClient(str(tmp_path / "nope.sock"))
    with pytest.raises(BackendUnavailable, match="nope.sock.*socket does not exist; is tailscaled running"):
        client.snapshot()


def test_localapi_refused_connection_is_unavailable(tmp_path):
    import socket
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file exists, nobody listens: like a crashed tailscaled
    with pytest.raises(BackendUnavailable, match="cannot connect"):
        LocalAPIClient(str(path)).snapshot()


@pytest.mark.parametrize("mode, error, message", [
    ("garbage", BackendProtocolError, "not JSON: JSON is malformed"),
    ("partial", BackendProtocolError, "not JSON: Input data was truncated"),
    ("error", BackendUnavailable, "HTTP 500: backend error"),
])
def test_localapi_bad_answers_are_named(daemon, mode, error, message):
    daemon.set(mode=mode, status=status())
    with pytest.raises(error, match=message):
        LocalAPIClient(daemon.socket_path).snapshot()


def test_localapi_slow_answer_times_out(daemon):
    daemon.set(mode="slow", delay_s=2.0, status=status())
    with pytest.raises(BackendUnavailable, match="no answer to GET /localapi/v0/status within 0.3 s"):
        LocalAPIClient(daemon.socket_path, timeout_s=0.3).snapshot()


def test_localapi_wrong_shape_is_a_protocol_error(daemon):
    daemon.set(status={"hello": "world"})
    with pytest.raises(BackendProtocolError, match="not a Tailscale status: expected a JSON object with BackendState"):
        LocalAPIClient(daemon.socket_path).snapshot()
