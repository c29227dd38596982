"""The monitor engine against the stand-in tailscaled over a real socket."""
import math
import threading
import time

import pytest

from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import InputError
from overlay_monitor.health import OK, STALE, WARN
from overlay_monitor.models import LinkState
from overlay_monitor.monitor import MonitorConfig, OverlayMonitor, PingScheduler
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, ping_result, status


@pytest.fixture
def daemon(tmp_path):
    fake = FakeTailscaled(tmp_path / "tailscaled.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2", rx=100),
                                  peer_status("robot3", "100.64.0.3", state="derp")]),
             pings={"100.64.0.2": ping_result("100.64.0.2", latency_s=0.004),
                    "100.64.0.3": ping_result("100.64.0.3", latency_s=0.030, path="derp")})
    fake.start()
    yield fake
    fake.stop()


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_monitor_reports_states_levels_and_rtts(daemon):
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path),
                             MonitorConfig(ping_period_s=0.1))
    try:
        first = monitor.poll()
        levels = {c.task: c.level for c in first.checks}
        assert levels == {"client": OK, "peer robot2": OK, "peer robot3": WARN}
        assert _wait_for(lambda: monitor.pings_in_flight == 0 and all(
            not math.isnan(p.rtt_ms) for p in monitor.poll().snapshot.peers))
        rtts = {p.hostname: p.rtt_ms for p in monitor.poll().snapshot.peers}
        assert rtts == pytest.approx({"robot2": 4.0, "robot3": 30.0})
    finally:
        monitor.close()


def test_monitor_goes_stale_when_the_socket_disappears_and_recovers(daemon):
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), MonitorConfig(ping_period_s=0))
    try:
        assert monitor.poll().snapshot.reachable
        daemon.stop()
        stale = monitor.poll()
        assert not stale.snapshot.reachable and "socket does not exist" in stale.snapshot.error
        assert {c.level for c in stale.checks} == {STALE}
        assert {c.task for c in stale.checks} == {"client", "peer robot2", "peer robot3"}
        assert [e.new_state for e in stale.events] == ["unreachable"]
        assert monitor.poll().events == []  # said once, not every poll
        daemon.start()  # tailscaled restarted
        back = monitor.poll()
        assert back.snapshot.reachable and back.events[0].message.endswith("readable again")
    finally:
        monitor.close()


@pytest.mark.parametrize("mode", ["garbage", "partial", "error"])
def test_monitor_survives_bad_answers(daemon, mode):
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), MonitorConfig(ping_period_s=0))
    try:
        daemon.set(mode=mode, status=status())
        update = monitor.poll()
        assert not update.snapshot.reachable and update.checks[0].level == STALE
    finally:
        monitor.close()


def test_monitor_slow_daemon_is_stale_not_stuck(daemon):
    daemon.set(mode="slow", delay_s=3.0, status=status())
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path, timeout_s=0.2),
                             MonitorConfig(ping_period_s=0))
    try:
        start = time.monotonic()
        update = monitor.poll()
        assert time.monotonic() - start < 2.0
        assert not update.snapshot.reachable and "within 0.2 s" in update.snapshot.error
    finally:
        monitor.close()


def test_monitor_pings_at_most_max_in_flight_and_one_per_peer(daemon):
    peers = [peer_status(f"r{i}", f"100.64.1.{i}") for i in range(1, 21)]
    daemon.set(status=status(peers=peers), ping_delay_s=0.3,
               pings={p["TailscaleIPs"][0]: ping_result(p["TailscaleIPs"][0]) for p in peers})
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path),
                             MonitorConfig(ping_period_s=60, max_pings_in_flight=3))
    seen = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            seen.append(monitor.pings_in_flight)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(5):
            monitor.poll()
        assert _wait_for(lambda: monitor.pings_in_flight == 0)
        monitor.poll()  # the first three are done: the next three start
        assert _wait_for(lambda: monitor.pings_in_flight == 0)
    finally:
        stop.set()
        sampler.join()
        monitor.close()
    assert max(seen) == 3
    pings = [r for r in daemon.requests() if r["path"].startswith("/localapi/v0/ping")]
    assert len(pings) == 6  # two rounds of 3; nobody pinged twice within the period
    assert len({r["path"] for r in pings}) == 6


def test_monitor_watch_and_ignore_filter_peers(daemon):
    config = MonitorConfig(ping_period_s=0, ignore=frozenset({"robot3"}))
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), config)
    try:
        assert [p.hostname for p in monitor.poll().snapshot.peers] == ["robot2"]
    finally:
        monitor.close()
    watch = MonitorConfig(ping_period_s=0, watch=frozenset({"100.64.0.3"}))
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), watch)
    try:
        assert [p.hostname for p in monitor.poll().snapshot.peers] == ["robot3"]
    finally:
        monitor.close()


def test_monitor_path_change_becomes_an_event(daemon):
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), MonitorConfig(ping_period_s=0))
    try:
        monitor.poll()
        daemon.set(status=status(peers=[peer_status("robot2", "100.64.0.2", state="derp"),
                                        peer_status("robot3", "100.64.0.3", state="derp")]))
        events = monitor.poll().events
        assert [(e.peer, e.old_state, e.new_state) for e in events] == [("robot2", "direct", "derp")]
        assert monitor.poll().snapshot.peers[0].state is LinkState.DERP
    finally:
        monitor.close()


def test_scheduler_orders_by_longest_wait():
    scheduler = PingScheduler(period_s=10, max_in_flight=2)
    assert scheduler.due(["a", "b", "c"], 0.0) == ["a", "b"]
    scheduler.start("a", 0.0)
    scheduler.start("b", 0.0)
    assert scheduler.due(["a", "b", "c"], 1.0) == []
    scheduler.finish("a")
    assert scheduler.due(["a", "b", "c"], 1.0) == ["c"]
    assert PingScheduler(period_s=0, max_in_flight=2).due(["a"], 0.0) == []


def test_config_rejects_bad_values():
    with pytest.raises(InputError, match="poll period 0 s must be > 0"):
        MonitorConfig(poll_period_s=0)
    with pytest.raises(InputError, match="max pings in flight 0"):
        MonitorConfig(max_pings_in_flight=0)


def test_udp_blocked_on_this_network_is_a_warning_with_the_home_region(daemon, monkeypatch):
    """The real client metrics, open campus then tcp443 (recorded one after the other), served
    by the stand-in: the client check turns WARN and names DERP and the home region."""
    from overlay_monitor.backends import tailscale as backend_module
    from overlay_monitor.metrics import exposition
    from overlay_testing import FIXTURES

    monkeypatch.setattr(backend_module, "UDP_READ_EVERY_S", 0.0)  # read the counters every poll
    real = FIXTURES / "real"
    script = daemon.script()
    script["status"]["Self"]["Relay"] = "campus"
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), MonitorConfig(ping_period_s=0))
    try:
        daemon.set(**script, metrics=(real / "localapi_metrics_open.txt").read_text())
        first = monitor.poll()
        assert first.snapshot.udp is True and first.checks[0].level == OK
        daemon.set(**script, metrics=(real / "localapi_metrics_tcp443.txt").read_text())
        blocked = monitor.poll()
        client = blocked.checks[0]
        assert blocked.snapshot.udp is False and client.level == WARN
        assert client.message.startswith("UDP blocked on this network: every link goes through "
                                         "DERP (region campus)")
        assert ("UDP", "blocked") in client.values
        assert 'overlay_udp_available{home_derp="campus"} 0.0' in exposition(blocked.snapshot)
    finally:
        monitor.close()


def test_a_user_who_may_not_read_the_metrics_sees_udp_unknown(daemon):
    monitor = OverlayMonitor(LocalAPIClient(daemon.socket_path), MonitorConfig(ping_period_s=0))
    try:
        update = monitor.poll()  # the stand-in answers 403 without a metrics script
        assert update.snapshot.udp is None and update.checks[0].level == OK
    finally:
        monitor.close()
