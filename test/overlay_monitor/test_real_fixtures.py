"""The parsers and the stand-ins against outputs recorded from the real tailscaled 1.102.5 and
headscale 0.29.2 in the lab (test/fixtures/real/README.md says how each was made)."""
import json
import math

import pytest

from overlay_monitor.models import LinkState
from overlay_monitor.tailscale_status import ping_from_json, snapshot_from_status
from overlay_testing import FIXTURES
from standins.tailscale_shapes import peer_status, ping_result, status

REAL = FIXTURES / "real"


def _load(name: str):
    return json.loads((REAL / name).read_text())


def _by_name(name: str):
    return {p.hostname: p for p in snapshot_from_status(_load(name)).peers}


def test_real_derp_status_reads_derp_with_the_inventory_region():
    peers = _by_name("status_derp.json")
    assert peers["r2"].state is LinkState.DERP and peers["r2"].derp_region == "campus"
    assert peers["r2"].endpoint == "" and peers["r2"].tags == ["tag:lab"]
    assert peers["r3"].state is LinkState.IDLE


def test_real_direct_status_reads_direct_with_the_underlay_endpoint():
    peers = _by_name("status_direct.json")
    assert peers["r2"].state is LinkState.DIRECT
    assert peers["r2"].endpoint == "198.18.2.2:41641"
    assert peers["r2"].rx_bytes > 0 and peers["r2"].last_handshake is not None


def test_real_offline_status_reads_offline():
    peers = _by_name("status_offline.json")
    assert peers["r3"].state is LinkState.OFFLINE and not peers["r3"].online


def test_real_self_has_its_addresses_and_tags():
    snapshot = snapshot_from_status(_load("status_derp.json"))
    assert snapshot.backend_state == "Running"
    assert snapshot.self_peer.hostname == "r1" and snapshot.self_peer.tags == ["tag:lab"]
    assert snapshot.self_peer.overlay_ips[0].startswith("100.64.")
    assert snapshot.version.startswith("1.102.5")


def test_real_cli_json_is_the_same_document_as_the_localapi_status():
    cli = snapshot_from_status((REAL / "tailscale_status_json_derp.json").read_text())
    assert {p.hostname for p in cli.peers} == {"r2", "r3"}


@pytest.mark.parametrize("name, path, where", [
    ("localapi_ping_direct.json", LinkState.DIRECT, "198.18.2.2:41641"),
    ("localapi_ping_derp.json", LinkState.DERP, "campus")])
def test_real_disco_ping_results(name, path, where):
    outcome = ping_from_json(_load(name), "100.64.0.2")
    assert outcome.path is path and not math.isnan(outcome.latency_ms)
    assert where in (outcome.endpoint, outcome.derp_region)


def test_real_cli_ping_text_names_the_path():
    assert "via DERP(campus)" in (REAL / "tailscale_ping_derp.txt").read_text()
    assert "via 198.18.2.2:41641" in (REAL / "tailscale_ping_direct.txt").read_text()


def _shape(value):
    """Keys and value types of a JSON document, recursively (what a stand-in must match)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


@pytest.mark.parametrize("state", ["derp", "direct"])
def test_standin_peer_has_the_real_peer_shape(state):
    real = next(p for p in _load(f"status_{state}.json")["Peer"].values() if p["HostName"] == "r2")
    fake = peer_status("r2", "100.64.0.2", state=state, tags=["tag:lab"])
    assert list(fake) == list(real)
    assert _shape(fake) == _shape(real)


def test_standin_status_has_the_real_top_level_and_self_shape():
    real = _load("status_derp.json")
    fake = status(peers=[peer_status("r2", "100.64.0.2", state="derp", tags=["tag:lab"])])
    assert list(fake) == list(real)
    real_self = {k: v for k, v in real["Self"].items()}
    fake_self = {k: v for k, v in fake["Self"].items() if k != "KeyExpiry"}
    assert set(fake_self) == set(real_self) - {"Tags"}  # the stand-in's self is untagged


@pytest.mark.parametrize("path", ["direct", "derp"])
def test_standin_ping_has_the_real_shape(path):
    real = _load(f"localapi_ping_{path}.json")
    fake = ping_result("100.64.0.2", path=path)
    assert list(fake) == list(real) and _shape(fake) == _shape(real)
