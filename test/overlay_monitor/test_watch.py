"""overlay-status --watch: live updates from the backend (stand-in tailscaled), STALE banner,
colour on a terminal and none when piped."""
import io
import subprocess
from datetime import datetime, timezone

from rich.console import Console

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_monitor.tailscale_status import snapshot_from_status
from overlay_monitor.watch import watch
from overlay_testing import overlay_cli
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, status

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def _snapshot(state):
    return OverlaySnapshot("tailscale", "Running", True, Peer(hostname="robot1"),
                           [Peer(hostname="robot2", overlay_ips=["100.64.0.2"], state=state)])


def test_watch_shows_every_update_and_a_stale_banner():
    out = io.StringIO()
    shown = watch(iter([_snapshot(LinkState.DIRECT), None, _snapshot(LinkState.DERP)]),
                  Console(file=out, width=120), count=0, clock=lambda: NOW)
    text = out.getvalue()
    assert shown == 3
    assert text.index("direct") < text.index("STALE") < text.index("derp")
    assert "\x1b[" not in text  # not a terminal: no colour codes


def test_watch_on_a_terminal_uses_colour():
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system="standard")
    watch(iter([_snapshot(LinkState.OFFLINE)]), console, count=1, clock=lambda: NOW)
    assert "\x1b[31m" in out.getvalue()  # offline in red


def test_watch_cli_follows_the_backend(tmp_path):
    daemon = FakeTailscaled(tmp_path / "ts.sock", tmp_path / "script.json")
    daemon.set(status=status(peers=[peer_status("robot2", "100.64.0.2")]))
    daemon.start()
    try:
        result = subprocess.run([*overlay_cli("overlay-status"), "--watch", "--socket",
                                 daemon.socket_path, "--interval", "0.2", "--count", "3"],
                                capture_output=True, text=True, timeout=60)
    finally:
        daemon.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("robot1: tailscale Running") == 3
    assert result.stdout.count("robot2") == 3


def test_terminal_view_screenshot_renders(tmp_path):
    """The README's terminal screenshot is this rendering of a status dump (as SVG)."""
    import os

    from overlay_monitor.status_cli import load_status_file
    from overlay_monitor.table import build_table
    from overlay_testing import FIXTURES, REPO

    snapshot = load_status_file(FIXTURES / "tailscale" / "status_1.90_running.json")
    snapshot.peers[0].rtt_ms = 3.2
    console = Console(record=True, width=150, file=io.StringIO(), force_terminal=True)
    console.print(build_table(snapshot, NOW))
    svg = console.export_svg(title="overlay-status --watch")
    assert "<svg" in svg and all(word in svg for word in ("robot3", "derp", "campus", "laptop"))
    if os.environ.get("OVERLAY_UPDATE_SCREENSHOTS"):
        (REPO / "docs" / "terminal_view.svg").write_text(svg)


def test_watch_shows_a_table_per_robot_and_a_stale_line_for_a_quiet_one():
    out = io.StringIO()
    robot1 = snapshot_from_status(status(self_name="r1", peers=[peer_status("r2", "100.64.0.2")]))
    shown = watch(iter([{"r1": robot1, "r2": None}]), Console(file=out, width=140), count=1,
                  clock=lambda: NOW)
    text = out.getvalue()
    assert shown == 1 and "r1: tailscale Running" in text
    assert "STALE: no fresh status from r2" in text
