"""The rqt panel's widget, offscreen with PySide6 from PyPI: rendered and checked by pixels."""
import os
from datetime import datetime, timedelta, timezone

import pytest

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_testing import REPO, skip_or_fail

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
try:
    from PySide6.QtWidgets import QApplication
except ImportError as err:
    skip_or_fail(f"PySide6 not installed (requirements-test.txt): {err}")

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def app():
    return QApplication.instance() or QApplication([])


def _snapshot():
    return OverlaySnapshot("tailscale", "Running", True,
                           Peer(hostname="robot1", overlay_ips=["100.64.0.1"]), [
        Peer(hostname="robot2", overlay_ips=["100.64.0.2"], state=LinkState.DIRECT, rtt_ms=1.2,
             rx_bytes_per_s=51200.0, tx_bytes_per_s=1024.0,
             last_handshake=NOW - timedelta(seconds=12)),
        Peer(hostname="robot3", overlay_ips=["100.64.0.3"], state=LinkState.DERP,
             derp_region="campus", rtt_ms=31.5, last_handshake=NOW - timedelta(seconds=40)),
        Peer(hostname="laptop-ana", overlay_ips=["100.64.0.10"], state=LinkState.PEER_RELAY),
        Peer(hostname="robot4", overlay_ips=["100.64.0.4"], state=LinkState.OFFLINE)])


def _pixel_of_cell(widget, row, column):
    table = widget.table
    rect = table.visualItemRect(table.item(row, column))
    image = widget.grab().toImage()
    point = table.viewport().mapTo(widget, rect.topLeft())
    return image.pixelColor(point.x() + 3, point.y() + 3).name()


def test_widget_renders_rows_with_state_colours_and_sorts(app, tmp_path):
    from overlay_monitor.peer_table_model import STATE_COLOURS
    from overlay_monitor.rqt.peer_table_widget import PeerTableWidget

    widget = PeerTableWidget()
    widget.resize(760, 260)
    widget.show_snapshot(_snapshot(), received_s=100.0)
    widget.refresh(now_s=101.0, now=NOW)
    app.processEvents()
    assert widget.banner.isHidden()
    assert widget.client.text() == "robot1 100.64.0.1 — tailscale Running, 4 peer(s)"
    names = [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())]
    assert names == ["laptop-ana", "robot2", "robot3", "robot4"]
    for row, state in enumerate([LinkState.PEER_RELAY, LinkState.DIRECT, LinkState.DERP,
                                 LinkState.OFFLINE]):
        assert _pixel_of_cell(widget, row, 2) == STATE_COLOURS[state]
    widget._sort_by(3)  # RTT, unknown last
    widget.refresh(now_s=101.0, now=NOW)
    assert [widget.table.item(r, 0).text() for r in range(4)] == [
        "robot2", "robot3", "laptop-ana", "robot4"]
    widget.grab().save(str(tmp_path / "panel.png"))
    assert (tmp_path / "panel.png").stat().st_size > 2000
    if os.environ.get("OVERLAY_UPDATE_SCREENSHOTS"):
        widget.grab().save(str(REPO / "docs" / "rqt_panel.png"))


def test_widget_shows_stale_when_the_monitor_goes_quiet(app):
    from overlay_monitor.rqt.peer_table_widget import PeerTableWidget

    widget = PeerTableWidget(stale_after_s=5.0)
    widget.refresh(now_s=0.0)
    assert not widget.banner.isHidden()  # nothing heard yet
    widget.show_snapshot(_snapshot(), received_s=10.0)
    widget.refresh(now_s=11.0, now=NOW)
    assert widget.banner.isHidden()
    widget.refresh(now_s=16.0, now=NOW)
    assert not widget.banner.isHidden()
