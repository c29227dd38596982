"""The peer table shown by ``overlay-status``, ``overlay-lab`` and the rqt panel.

``peer_row`` is pure (strings only); ``render_table`` draws them with rich, which prints plain
text when the output is not a terminal.
"""
from __future__ import annotations

import math
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .models import LinkState, OverlaySnapshot, Peer

COLUMNS = ("peer", "overlay IP", "state", "endpoint", "RTT", "rx", "tx", "rx/s", "tx/s",
           "handshake")
STATE_STYLE = {LinkState.DIRECT: "green", LinkState.DERP: "yellow",
               LinkState.PEER_RELAY: "cyan", LinkState.IDLE: "blue",
               LinkState.OFFLINE: "red", LinkState.UNKNOWN: "magenta"}


def human_bytes(count: float) -> str:
    if isinstance(count, float) and math.isnan(count):
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def age_text(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def state_text(peer: Peer) -> str:
    """The state with where it goes: ``derp (campus)``, ``peer-relay (198.19.1.2:40641)``."""
    if peer.state is LinkState.DERP and peer.derp_region:
        return f"derp ({peer.derp_region})"
    if peer.state is LinkState.PEER_RELAY and peer.endpoint:
        return f"peer-relay ({peer.endpoint.split(':vni:', 1)[0]})"
    return peer.state.value


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{human_bytes(value)}/s"


def peer_row(peer: Peer, now: datetime) -> tuple[str, ...]:
    rtt = "-" if math.isnan(peer.rtt_ms) else f"{peer.rtt_ms:.1f} ms"
    return (peer.hostname, ", ".join(peer.overlay_ips[:1]) or "-", state_text(peer),
            peer.endpoint or "-", rtt, human_bytes(peer.rx_bytes), human_bytes(peer.tx_bytes),
            _rate(peer.rx_bytes_per_s), _rate(peer.tx_bytes_per_s),
            age_text(peer.last_handshake, now))


def build_table(snapshot: OverlaySnapshot, now: datetime, title: str = "") -> Table:
    self_name = snapshot.self_peer.hostname if snapshot.self_peer else "?"
    heading = title or f"{self_name}: {snapshot.backend} {snapshot.backend_state}"
    if not snapshot.reachable:
        heading += " (STALE: backend not readable)"
    elif snapshot.udp is False:
        heading += f" — {snapshot.udp_text()}"
    table = Table(title=heading, title_justify="left",
                  caption=snapshot.error or None, caption_justify="left")
    for column in COLUMNS:
        table.add_column(column, no_wrap=True)
    for peer in sorted(snapshot.peers, key=lambda p: p.hostname):
        cells = [Text(cell) for cell in peer_row(peer, now)]  # Text: never read as markup
        cells[2].stylize(STATE_STYLE[peer.state])
        table.add_row(*cells)
    return table


def render_table(snapshot: OverlaySnapshot, now: datetime, console: Console | None = None,
                 title: str = "") -> None:
    (console or Console()).print(build_table(snapshot, now, title))
