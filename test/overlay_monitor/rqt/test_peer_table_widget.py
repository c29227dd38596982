"""The rqt panel's widget, offscreen, with the binding the widget itself uses (PySide6 from
PyPI here; python_qt_binding with PyQt5 on a ROS desktop): rendered and checked by pixels. The
last test runs this module again under Debian's python3 with python_qt_binding."""
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_testing import REPO, skip_or_fail

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
try:
    from overlay_monitor.rqt.qt import BINDING, QApplication
except ImportError as err:
    skip_or_fail(f"no Qt binding (PySide6: requirements-test.txt): {err}")

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


def test_the_robot_list_shows_once_there_is_a_choice_and_keeps_the_choice(app):
    from overlay_monitor.rqt.peer_table_widget import PeerTableWidget

    widget = PeerTableWidget()
    widget.set_robots(["r1"])
    assert widget.robot.isHidden() and widget.selected_robot() == "r1"
    widget.set_robots(["r1", "r2"])
    assert not widget.robot.isHidden()
    widget.robot.setCurrentIndex(1)
    widget.set_robots(["r0", "r1", "r2"])
    assert widget.selected_robot() == "r2"


def test_the_widget_tests_pass_with_python_qt_binding_too():
    """A ROS 2 desktop has python_qt_binding (PyQt5): the widget and its application must come
    from it alike. Debian's python3 with python3-python-qt-binding stands for that desktop."""
    if os.environ.get("OVERLAY_QT_BINDING"):
        pytest.skip("already running under a chosen binding")
    python = shutil.which("python3", path="/usr/bin")
    probe = subprocess.run([python or "python3", "-c", "import python_qt_binding, pytest, rich"],
                           capture_output=True, text=True)
    if python is None or probe.returncode != 0:
        skip_or_fail("Debian's python3 lacks python3-python-qt-binding/pytest/rich "
                     "(tools/setup.sh installs them)")
    env = dict(os.environ, OVERLAY_QT_BINDING="python_qt_binding", QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "test")]))
    # PYTEST_ADDOPTS: colcon's --pytest-args (-n 2 needs pytest-xdist, which Debian's lacks)
    for var in ("VIRTUAL_ENV", "PYTHONHOME", "PYTEST_ADDOPTS"):
        env.pop(var, None)
    result = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                             os.devnull, "--rootdir", str(REPO), "-k", "not python_qt_binding",
                             str(REPO / "test" / "overlay_monitor" / "rqt" /
                                 "test_peer_table_widget.py")],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and BINDING
