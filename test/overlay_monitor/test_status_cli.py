import json
import subprocess

import pytest

from overlay_testing import FIXTURES, overlay_cli
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, ping_result, status

STATUS_FILE = FIXTURES / "tailscale" / "status_1.90_running.json"
PEER_KEYS = {"hostname", "dns_name", "ips", "os", "tags", "state", "derp_region", "endpoint",
             "rtt_ms", "rx_bytes", "tx_bytes", "rx_bytes_per_s", "tx_bytes_per_s",
             "last_handshake", "last_seen", "online", "expired"}


def _run(*args):
    return subprocess.run([*overlay_cli("overlay-status"), *args], capture_output=True, text=True,
                          timeout=60)


def test_status_cli_json_from_a_saved_dump():
    result = _run("--from-file", str(STATUS_FILE), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["backend"], data["backend_state"]) == ("tailscale", "Running")
    assert data["self"]["hostname"] == "robot1"
    assert [p["hostname"] for p in data["peers"]] == ["laptop-ana", "robot2", "robot3", "robot4",
                                                      "robot5"]
    assert all(set(p) == PEER_KEYS for p in data["peers"])
    states = {p["hostname"]: p["state"] for p in data["peers"]}
    assert states == {"laptop-ana": "peer-relay", "robot2": "direct", "robot3": "derp",
                      "robot4": "idle", "robot5": "offline"}
    robot3 = next(p for p in data["peers"] if p["hostname"] == "robot3")
    assert robot3["derp_region"] == "campus" and robot3["rtt_ms"] is None  # unknown, not 0
    assert robot3["ips"] == ["100.64.0.3", "fd7a:115c:a1e0::3"]


def test_status_cli_table_from_a_saved_dump():
    result = _run("--from-file", str(STATUS_FILE))
    assert result.returncode == 0
    assert "robot1: tailscale Running" in result.stdout
    assert "derp (campus)" in result.stdout and "peer-relay" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes when piped


@pytest.mark.parametrize("content, message", [
    ("not json at all", "not JSON: JSON is malformed"),
    ('{"Peer": {}}', "not a Tailscale status"),
    ('{"BackendState": "Running", "Peer": {"nodekey:1": {"RxBytes": "many"}}}',
     "Expected `int`, got `str` - at `$.Peer[...].RxBytes`"),
])
def test_status_cli_rejects_a_file_that_is_not_a_status_dump(tmp_path, content, message):
    bad = tmp_path / "status.json"
    bad.write_text(content)
    result = _run("--from-file", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("overlay-status: error: ") and message in lines[0]


def test_status_cli_live_with_ping_against_the_stand_in(tmp_path):
    fake = FakeTailscaled(tmp_path / "ts.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2"),
                                  peer_status("robot5", "100.64.0.5", state="offline")]),
             pings={"100.64.0.2": ping_result("100.64.0.2", latency_s=0.0125)})
    fake.start()
    try:
        result = _run("--socket", fake.socket_path, "--ping", "--json")
    finally:
        fake.stop()
    assert result.returncode == 0, result.stderr
    peers = {p["hostname"]: p for p in json.loads(result.stdout)["peers"]}
    assert peers["robot2"]["rtt_ms"] == 12.5 and peers["robot5"]["rtt_ms"] is None
    pinged = [r["path"] for r in fake.requests() if "ping" in r["path"]]
    assert pinged == ["/localapi/v0/ping?ip=100.64.0.2&type=disco"]  # offline peers are not pinged


def test_status_cli_unreachable_backend_is_exit_3(tmp_path):
    result = _run("--socket", str(tmp_path / "missing.sock"))
    assert result.returncode == 3 and "socket does not exist" in result.stderr
