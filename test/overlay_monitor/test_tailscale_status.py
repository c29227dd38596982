import contextlib
import json
import math
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlay_monitor.errors import InputError
from overlay_monitor.models import LinkState
from overlay_monitor.tailscale_status import (
    BACKEND_STATES,
    classify_tailscale_peer,
    parse_go_time,
    ping_from_json,
    snapshot_from_status,
)
from overlay_testing import FIXTURES
from standins.tailscale_shapes import peer_status, ping_result, status

TS = FIXTURES / "tailscale"


def _load(name):
    return json.loads((TS / name).read_text())


def test_status_new_client_classifies_every_path():
    snap = snapshot_from_status(_load("status_1.90_running.json"))
    by = {p.hostname: p for p in snap.peers}
    assert {h: p.state for h, p in by.items()} == {
        "robot2": LinkState.DIRECT, "robot3": LinkState.DERP, "laptop-ana": LinkState.PEER_RELAY,
        "robot4": LinkState.IDLE, "robot5": LinkState.OFFLINE}
    assert by["robot2"].endpoint == "198.51.100.7:41641"
    assert by["robot3"].derp_region == "campus" and by["robot3"].endpoint == ""
    assert by["laptop-ana"].endpoint == "100.64.0.9:7777:vni:3"
    assert by["robot2"].rx_bytes == 123456 and by["robot2"].tags == ["tag:team-a"]
    assert by["robot2"].dns_name == "robot2.fleet.example."
    assert snap.backend_state == "Running" and snap.self_peer.hostname == "robot1"
    assert snap.self_peer.overlay_ips[0] == "100.64.0.1"
    assert snap.version.startswith("1.90")


def test_status_old_client_without_peer_relay_or_id_parses():
    snap = snapshot_from_status(_load("status_1.32_running.json"))
    states = {p.hostname: p.state for p in snap.peers}
    assert states == {"robot2": LinkState.DIRECT, "robot3": LinkState.DERP,
                      "robot5": LinkState.OFFLINE}
    assert all(p.public_key.startswith("nodekey:") for p in snap.peers)


def test_status_zero_times_and_null_addrs_mean_unknown():
    snap = snapshot_from_status(_load("status_1.90_running.json"))
    offline = next(p for p in snap.peers if p.hostname == "robot5")
    assert offline.last_handshake is None  # 0001-01-01T00:00:00Z
    assert offline.last_seen == datetime(2026, 11, 25, 22, 10, tzinfo=timezone.utc)
    direct = next(p for p in snap.peers if p.hostname == "robot2")
    assert direct.last_handshake == datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=timezone.utc)


def test_relay_alone_is_the_home_region_not_a_relayed_link():
    raw = peer_status("r", "100.64.0.7", state="direct", region="campus")
    assert raw["Relay"] == "campus" and classify_tailscale_peer(raw) is LinkState.DIRECT
    idle = peer_status("r", "100.64.0.7", state="idle", region="campus")
    assert classify_tailscale_peer(idle) is LinkState.IDLE


def test_active_peer_with_neither_addr_nor_peer_relay_is_derp():
    raw = peer_status("r", "100.64.0.7", state="derp", region="")
    assert classify_tailscale_peer(raw) is LinkState.DERP


def test_active_but_offline_is_offline():
    """Seen with the real tailscaled: a peer whose tailscaled stopped stays Active while this
    node keeps sending to it, but the server reports it offline; that is what matters."""
    raw = peer_status("r", "100.64.0.7", state="derp", online=False)
    snap = snapshot_from_status(status(peers=[raw]))
    assert snap.peers[0].state is LinkState.OFFLINE and not snap.peers[0].online
    assert snap.peers[0].derp_region == "campus"


@pytest.mark.parametrize("state", BACKEND_STATES)
def test_every_backend_state_parses(state):
    snap = snapshot_from_status(status(state, peers=[peer_status("x", "100.64.0.9")]))
    assert snap.backend_state == state
    assert (len(snap.peers) == 1) == (state == "Running")
    assert snap.self_peer.online == (state == "Running")


def test_needs_login_fixture_has_no_peers():
    snap = snapshot_from_status(_load("status_1.90_needslogin.json"))
    assert snap.backend_state == "NeedsLogin" and snap.peers == []


def test_sharee_nodes_are_hidden_like_the_cli_does():
    hidden = peer_status("guest", "100.64.0.50")
    hidden["ShareeNode"] = True
    snap = snapshot_from_status(status(peers=[hidden, peer_status("r2", "100.64.0.2")]))
    assert [p.hostname for p in snap.peers] == ["r2"]


@pytest.mark.parametrize("raw, message", [
    ([], "not a Tailscale status"),
    ({"Peers": {}}, "not a Tailscale status"),
    ({"BackendState": "Dancing"},
     r"Invalid enum value 'Dancing' - at `\$.BackendState` \(expected one of NoState, .*Running\)"),
    ({"BackendState": "Running", "Peer": []}, r"Expected `object \| null`, got `array` - at `\$.Peer`"),
    ({"BackendState": "Running", "Peer": {"nodekey:1": {"RxBytes": -5}}},
     r"Expected `int` >= 0 - at `\$.Peer\[...\].RxBytes`"),
    ({"BackendState": "Running", "Peer": {"nodekey:1": {"TailscaleIPs": "100.64.0.1"}}},
     r"Expected `array \| null`, got `str` - at `\$.Peer\[...\].TailscaleIPs`"),
    ({"BackendState": "Running", "Peer": {"nodekey:1": {"LastSeen": "yesterday"}}},
     r"Peer\['nodekey:1'\].LastSeen: 'yesterday' is not an RFC 3339 time"),
])
def test_status_rejects_bad_shapes_naming_the_field(raw, message):
    with pytest.raises(InputError, match=message):
        snapshot_from_status(raw)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.sampled_from(["BackendState", "Peer", "Self", "HostName",
                                                       "Active", "CurAddr", "RxBytes", "LastSeen",
                                                       "TailscaleIPs", "Health", "Online"]),
                                      kids, max_size=6),
                    max_leaves=20))
def test_status_parser_fails_only_with_input_error(raw):
    with contextlib.suppress(InputError):
        snapshot_from_status(raw)


def test_go_time_with_nanoseconds_and_offsets():
    assert parse_go_time("2026-11-26T10:00:00.123456789+01:00", "t") == datetime(
        2026, 11, 26, 9, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_go_time("0001-01-01T00:00:00Z", "t") is None
    assert parse_go_time(None, "t") is None


def test_ping_results_map_to_paths_and_nan_on_error():
    direct = ping_from_json(_load("ping_direct.json"), "100.64.0.2")
    assert direct.latency_ms == pytest.approx(4.2) and direct.path is LinkState.DIRECT
    derp = ping_from_json(_load("ping_derp.json"), "100.64.0.3")
    assert derp.path is LinkState.DERP and derp.derp_region == "campus"
    relay = ping_from_json(ping_result("100.64.0.9", path="peer-relay"), "100.64.0.9")
    assert relay.path is LinkState.PEER_RELAY
    failed = ping_from_json(ping_result("100.64.0.4", err="timeout"), "100.64.0.4")
    assert math.isnan(failed.latency_ms) and failed.error == "timeout"
    assert failed.path is LinkState.UNKNOWN
    with pytest.raises(InputError, match=r"not a PingResult: Expected `float \| null`, got `str` - at `\$.LatencySeconds`"):
        ping_from_json({"LatencySeconds": "fast"}, "100.64.0.4")
