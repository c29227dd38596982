import math
from datetime import datetime, timezone

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_monitor.tracker import LinkTracker, handshake_age_s


def _snap(*peers, state="Running"):
    return OverlaySnapshot(backend="tailscale", backend_state=state, reachable=True,
                           self_peer=None, peers=list(peers))


def _peer(name, rx=0, tx=0, state=LinkState.DIRECT, region=""):
    return Peer(hostname=name, public_key=f"nodekey:{name}", overlay_ips=["100.64.0.9"],
                rx_bytes=rx, tx_bytes=tx, state=state, derp_region=region)


def test_tracker_rates_from_successive_samples():
    tracker = LinkTracker()
    first = _peer("a", rx=1000, tx=0)
    tracker.update(_snap(first), 10.0)
    assert math.isnan(first.rx_bytes_per_s)  # one sample: unknown, not 0
    second = _peer("a", rx=3000, tx=500)
    tracker.update(_snap(second), 12.0)
    assert (second.rx_bytes_per_s, second.tx_bytes_per_s) == (1000.0, 250.0)


def test_tracker_counter_reset_gives_unknown_rate_then_recovers():
    tracker = LinkTracker()
    tracker.update(_snap(_peer("a", rx=10_000)), 1.0)
    reset = _peer("a", rx=100)
    tracker.update(_snap(reset), 2.0)
    assert math.isnan(reset.rx_bytes_per_s)
    after = _peer("a", rx=600)
    tracker.update(_snap(after), 3.0)
    assert after.rx_bytes_per_s == 500.0


def test_tracker_reports_transitions_appearances_and_departures():
    tracker = LinkTracker()
    assert tracker.update(_snap(_peer("a"), _peer("b")), 1.0) == []  # baseline only
    events = tracker.update(_snap(_peer("a", state=LinkState.DERP, region="campus"),
                                  _peer("c")), 2.0)
    kinds = {(e.kind, e.peer, e.old_state, e.new_state) for e in events}
    assert kinds == {("state", "a", "direct", "derp"), ("appeared", "c", "", "direct"),
                     ("gone", "b", "direct", "")}
    assert any(e.message == "peer a: direct -> derp (region campus)" for e in events)


def test_tracker_backend_state_changes_are_events():
    tracker = LinkTracker()
    assert tracker.update(_snap(state="Running"), 1.0) == []
    events = tracker.update(_snap(state="NeedsLogin"), 2.0)
    assert [(e.kind, e.old_state, e.new_state) for e in events] == [
        ("backend", "Running", "NeedsLogin")]
    first = LinkTracker().update(_snap(state="Stopped"), 1.0)
    assert [e.new_state for e in first] == ["Stopped"]  # not Running at start: worth saying


def test_tracker_rtt_is_kept_while_fresh_and_nan_when_old_or_offline():
    tracker = LinkTracker(rtt_max_age_s=10)
    tracker.record_rtt("nodekey:a", 12.5, at_s=100.0)
    fresh = _peer("a")
    tracker.update(_snap(fresh), 105.0)
    assert fresh.rtt_ms == 12.5
    old = _peer("a")
    tracker.update(_snap(old), 111.0)
    assert math.isnan(old.rtt_ms)
    tracker.record_rtt("nodekey:a", 12.5, at_s=111.0)
    offline = _peer("a", state=LinkState.OFFLINE)
    tracker.update(_snap(offline), 112.0)
    assert math.isnan(offline.rtt_ms)


def test_handshake_age():
    now = datetime(2026, 11, 26, 10, 0, 30, tzinfo=timezone.utc)
    peer = _peer("a")
    assert handshake_age_s(peer, now) == math.inf
    peer.last_handshake = datetime(2026, 11, 26, 10, 0, 0, tzinfo=timezone.utc)
    assert handshake_age_s(peer, now) == 30.0


def test_tracker_failed_probe_means_offline_only_when_asked():
    for decides, expected in ((False, LinkState.DIRECT), (True, LinkState.OFFLINE)):
        tracker = LinkTracker(failed_probe_means_offline=decides)
        tracker.update(_snap(_peer("a")), 1.0)
        tracker.record_rtt("nodekey:a", math.nan, at_s=1.5)
        peer = _peer("a")
        events = tracker.update(_snap(peer), 2.0)
        assert peer.state is expected
        assert [e.new_state for e in events] == ([] if not decides else ["offline"])


def test_a_direct_peer_whose_endpoint_changes_roamed_and_so_did_this_machine():
    from overlay_monitor.metrics import exposition
    from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
    from overlay_monitor.tracker import LinkTracker

    def snap(peer_endpoint, own):
        return OverlaySnapshot("tailscale", "Running", True, Peer(hostname="r1"), [
            Peer(hostname="r2", public_key="k2", state=LinkState.DIRECT, endpoint=peer_endpoint)],
            self_endpoints=own)

    tracker = LinkTracker()
    assert tracker.update(snap("198.18.2.2:41641", ("198.18.1.2:41641",)), 0.0) == []
    events = tracker.update(snap("198.18.2.3:41641", ("198.18.101.2:41641",)), 1.0)
    assert {(e.kind, e.peer, e.old_state, e.new_state) for e in events} == {
        ("endpoint", "r1", "198.18.1.2:41641", "198.18.101.2:41641"),
        ("endpoint", "r2", "198.18.2.2:41641", "198.18.2.3:41641")}
    assert "it roamed" in events[0].message
    # back again: tailscaled lists both, the current one first (recorded in the lab)
    back = tracker.update(snap("198.18.2.3:41641", ("198.18.1.2:41641", "198.18.101.2:41641")),
                          2.0)
    assert [(e.kind, e.new_state) for e in back] == [
        ("endpoint", "198.18.1.2:41641, 198.18.101.2:41641")]
    assert tracker.update(snap("198.18.2.3:41641", ("198.18.1.2:41641", "198.18.101.2:41641")),
                          3.0) == []
    text = exposition(snap("198.18.2.3:41641", ("198.18.101.2:41641",)), events)
    assert 'overlay_roams_total{peer="r2"} 1.0' in text and 'overlay_roams_total{peer="r1"} 1.0' in text
