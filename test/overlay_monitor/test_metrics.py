"""Prometheus metrics of the overlay: names, one-hot states, NaN for unknown RTT, bounded labels,
event counters; `promtool check metrics` accepts the exposition."""
import math
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from overlay_monitor.metrics import EXPORTED_STATES, OverlayCollector, exposition, make_registry
from overlay_monitor.tailscale_status import snapshot_from_status
from overlay_monitor.tracker import LinkEvent
from overlay_testing import FIXTURES, overlay_cli, skip_or_fail

REAL = FIXTURES / "real"


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def _snapshot(name="status_derp.json"):
    return snapshot_from_status((REAL / name).read_text())


def test_peer_state_is_one_hot_over_every_state():
    families = _families(exposition(_snapshot()))
    samples = families["overlay_peer_state"].samples
    for peer, current in (("r2", "derp"), ("r3", "idle")):
        mine = {s.labels["state"]: s.value for s in samples if s.labels["peer"] == peer}
        assert set(mine) == {s.value for s in EXPORTED_STATES}
        assert mine[current] == 1.0 and sum(mine.values()) == 1.0


def test_units_counters_unknown_rtt_and_regions():
    text = exposition(_snapshot("status_direct.json"))
    families = _families(text)
    rtt = {s.labels["peer"]: s.value for s in families["overlay_peer_rtt_seconds"].samples}
    assert all(math.isnan(v) for v in rtt.values())  # never measured: NaN, never 0
    assert families["overlay_peer_rx_bytes"].type == "counter"
    assert "overlay_peer_rx_bytes_total{" in text and "overlay_peer_tx_bytes_total{" in text
    handshakes = {s.labels["peer"]: s.value
                  for s in families["overlay_peer_last_handshake_timestamp_seconds"].samples}
    assert handshakes["r2"] > 1.7e9
    regions = {(s.labels["peer"], s.labels["region"])
               for s in families["overlay_peer_derp_region"].samples}
    assert ("r2", "campus") in regions
    assert [s.value for s in families["overlay_backend_up"].samples] == [1.0]


def test_labels_are_bounded_no_endpoint_or_port():
    text = exposition(_snapshot("status_direct.json"))
    assert "198.18." not in text and ":41641" not in text
    labels = {k for f in _families(text).values() for s in f.samples for k in s.labels}
    assert labels <= {"peer", "ip", "state", "region", "backend", "from", "to"}


def test_link_events_count_and_backend_down_keeps_the_last_peers():
    collector = OverlayCollector()
    snap = _snapshot()
    collector.update(snap, [LinkEvent("state", "r2", "k", "direct", "derp", "r2 direct -> derp"),
                            LinkEvent("state", "r2", "k", "direct", "derp", "again")])
    down = snapshot_from_status((REAL / "status_derp.json").read_text())
    down.reachable, down.peers = False, []
    collector.update(down)
    from prometheus_client import generate_latest
    families = _families(generate_latest(make_registry(collector)).decode())
    (event,) = families["overlay_link_events"].samples
    assert event.labels == {"peer": "r2", "from": "direct", "to": "derp"} and event.value == 2
    assert [s.value for s in families["overlay_backend_up"].samples] == [0.0]
    assert {s.labels["peer"] for s in families["overlay_peer_state"].samples} == {"r2", "r3"}


def test_promtool_accepts_the_cli_exposition():
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool not installed (Debian package prometheus; tools/setup.sh)")
    out = subprocess.run([*overlay_cli("overlay-status"), "--from-file",
                          str(REAL / "status_direct.json"), "--prometheus"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    check = subprocess.run([promtool, "check", "metrics"], input=out.stdout,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_listen_on_the_own_overlay_ipv4_once_known():
    from overlay_monitor.metrics import listen_address
    joined = _snapshot()
    assert listen_address("overlay", joined) == joined.self_peer.overlay_ips[0]
    from overlay_monitor.models import OverlaySnapshot, Peer
    not_joined = OverlaySnapshot("tailscale", "NeedsLogin", True, Peer("r1"))
    assert listen_address("overlay", not_joined) == ""
    only_v6 = OverlaySnapshot("tailscale", "Running", True, Peer("r1", overlay_ips=["fd7a::1"]))
    assert listen_address("overlay", only_v6) == ""
    assert listen_address("127.0.0.1", joined) == "127.0.0.1"
