import math
from datetime import datetime, timedelta, timezone

import pytest

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_monitor.peer_table_model import COLUMNS, STATE_COLOURS, client_line, is_stale, rows, sort_rows

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def _snapshot(reachable=True):
    return OverlaySnapshot("tailscale", "Running", reachable,
                           Peer(hostname="robot1", overlay_ips=["100.64.0.1"]), [
        Peer(hostname="robot3", overlay_ips=["100.64.0.10"], state=LinkState.DERP,
             derp_region="campus", rtt_ms=30.0, rx_bytes_per_s=2048.0,
             last_handshake=NOW - timedelta(seconds=5)),
        Peer(hostname="robot2", overlay_ips=["100.64.0.9"], state=LinkState.DIRECT, rtt_ms=1.0),
        Peer(hostname="robot4", overlay_ips=["100.64.0.11"], state=LinkState.OFFLINE)])


def test_rows_have_the_columns_and_state_colours():
    table = rows(_snapshot(), NOW)
    robot3 = next(r for r in table if r.cells[0] == "robot3")
    assert dict(zip(COLUMNS, robot3.cells, strict=True)) == {
        "peer": "robot3", "overlay IP": "100.64.0.10", "state": "derp (campus)",
        "RTT": "30.0 ms", "rx/s": "2.0 KiB/s", "tx/s": "-", "handshake": "5 s ago"}
    assert robot3.colour == STATE_COLOURS[LinkState.DERP]


@pytest.mark.parametrize("column, descending, order", [
    (0, False, ["robot2", "robot3", "robot4"]),
    (1, False, ["robot2", "robot3", "robot4"]),   # 100.64.0.9 < .10 < .11 numerically
    (3, False, ["robot2", "robot3", "robot4"]),   # unknown RTT last
    (3, True, ["robot4", "robot3", "robot2"]),
    (2, False, ["robot2", "robot3", "robot4"]),   # direct, derp, …, offline
])
def test_sorting_by_column(column, descending, order):
    assert [r.cells[0] for r in sort_rows(rows(_snapshot(), NOW), column, descending)] == order


def test_staleness_and_client_line():
    assert is_stale(None, 10.0, 5.0, None)
    assert not is_stale(8.0, 10.0, 5.0, _snapshot())
    assert is_stale(4.0, 10.0, 5.0, _snapshot())
    assert is_stale(9.0, 10.0, 5.0, _snapshot(reachable=False))
    assert client_line(_snapshot()) == "robot1 100.64.0.1 — tailscale Running, 3 peer(s)"
    assert "waiting" in client_line(None)
    assert math.isnan(_snapshot().peers[1].rx_bytes_per_s)


def test_peer_relay_row_names_the_relay_endpoint():
    snapshot = OverlaySnapshot("tailscale", "Running", True, Peer(hostname="robot1"), [
        Peer(hostname="robot2", state=LinkState.PEER_RELAY, endpoint="198.19.1.2:40641:vni:7")])
    (row,) = rows(snapshot, NOW)
    assert row.cells[2] == "peer-relay (198.19.1.2:40641)"
    assert row.colour == STATE_COLOURS[LinkState.PEER_RELAY]
