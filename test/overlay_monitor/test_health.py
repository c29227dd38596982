import math

import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.health import (
    ERROR,
    OK,
    STALE,
    WARN,
    CheckCache,
    HealthThresholds,
    client_check,
    peer_check,
    snapshot_checks,
    stale_checks,
)
from overlay_monitor.models import LinkState, OverlaySnapshot, Peer

LIMITS = HealthThresholds(rtt_warn_ms=100, rtt_error_ms=400)


def _peer(state, rtt=math.nan, **kw):
    return Peer(hostname="robot2", public_key="nodekey:2", state=state, rtt_ms=rtt,
                online=state is not LinkState.OFFLINE, **kw)


@pytest.mark.parametrize("peer, level, message", [
    (_peer(LinkState.DIRECT, 5.0, endpoint="198.18.2.2:51820"), OK, "direct 198.18.2.2:51820"),
    (_peer(LinkState.IDLE), OK, "idle (no recent traffic)"),
    (_peer(LinkState.DERP, 30.0, derp_region="campus"), WARN, "relayed through DERP region campus"),
    (_peer(LinkState.PEER_RELAY, endpoint="100.64.0.9:7777:vni:3"), WARN, "relayed through peer relay"),
    (_peer(LinkState.DIRECT, 150.0), WARN, "RTT 150 ms above 100 ms"),
    (_peer(LinkState.DIRECT, 450.0), ERROR, "RTT 450 ms above 400 ms"),
    (_peer(LinkState.OFFLINE), ERROR, "offline"),
    (_peer(LinkState.DIRECT, 5.0, expired=True), ERROR, "node key expired"),
])
def test_peer_levels(peer, level, message):
    check = peer_check(peer, LIMITS)
    assert check.level == level and check.message.startswith(message)
    assert check.task == "peer robot2" and check.hardware_id == "nodekey:2"
    values = dict(check.values)
    assert values["state"] == peer.state.value
    assert values["RTT ms"] == ("unknown" if math.isnan(peer.rtt_ms) else f"{peer.rtt_ms:.1f}")


def _snapshot(state, health=()):
    return OverlaySnapshot(backend="tailscale", backend_state=state, reachable=True,
                           self_peer=Peer(hostname="robot1", overlay_ips=["100.64.0.1"]),
                           peers=[_peer(LinkState.DIRECT), _peer(LinkState.DERP)],
                           health=list(health))


@pytest.mark.parametrize("state, level, text", [
    ("Running", OK, "Running"), ("Starting", WARN, "Starting"),
    ("NeedsLogin", ERROR, "NeedsLogin: not logged in"),
    ("NeedsMachineAuth", ERROR, "waiting for an administrator"),
    ("Stopped", ERROR, "Stopped"), ("NoState", ERROR, "NoState"),
])
def test_client_levels(state, level, text):
    check = client_check(_snapshot(state))
    assert check.level == level and text in check.message
    assert dict(check.values)["peers derp"] == "1"


def test_client_with_health_warnings_is_warn_and_lists_them():
    check = client_check(_snapshot("Running", ["DNS unavailable"]))
    assert check.level == WARN and dict(check.values)["health 1"] == "DNS unavailable"


def test_stale_checks_cover_client_and_known_peers():
    checks = stale_checks("socket missing", ["robot2", "robot3"])
    assert [c.level for c in checks] == [STALE] * 3
    assert "socket missing" in checks[0].message and checks[2].task == "peer robot3"


def test_thresholds_must_be_ordered():
    with pytest.raises(InputError, match="warn 500 ms and error 100 ms"):
        HealthThresholds(rtt_warn_ms=500, rtt_error_ms=100)


def _relay(online):
    return Peer(hostname="dmz", public_key="nodekey:9", state=LinkState.IDLE, online=online,
                tags=["tag:relay-dmz"])


@pytest.mark.parametrize("relay_online, reason", [
    (False, "relay configured but not used (relay dmz offline)"),
    (True, "relay configured but not used (dmz online: its UDP port is probably not reachable"),
])
def test_derp_while_a_peer_relay_is_configured_says_why(relay_online, reason):
    snapshot = OverlaySnapshot(backend="tailscale", backend_state="Running", reachable=True,
                               self_peer=None, peers=[
                                   _peer(LinkState.DERP, 30.0, derp_region="campus"),
                                   _relay(relay_online)])
    client, robot2, relay = snapshot_checks(snapshot, LIMITS)
    assert robot2.level == WARN and reason in robot2.message
    assert robot2.message.startswith("relayed through DERP region campus; ")
    assert "relay configured" not in relay.message
    cached = CheckCache().checks(snapshot, LIMITS)
    assert [c.message for c in cached] == [client.message, robot2.message, relay.message]


def test_derp_without_a_relay_in_the_netmap_has_no_relay_warning():
    snapshot = OverlaySnapshot(backend="tailscale", backend_state="Running", reachable=True,
                               self_peer=None,
                               peers=[_peer(LinkState.DERP, 30.0, derp_region="campus")])
    assert snapshot_checks(snapshot, LIMITS)[1].message == "relayed through DERP region campus"
