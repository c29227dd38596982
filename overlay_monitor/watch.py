"""``overlay-status --watch``: the peer table redrawn live, from the backend (through the
monitor engine, so rates and RTTs fill in) or from the monitor node's topic
(``nodes.status_topic``).

On a terminal it redraws in place with colour (rich Live); piped, it prints one plain table per
update. ``count`` bounds the number of updates (0 = until Ctrl-C).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.live import Live

from .backends.base import OverlayBackend
from .models import OverlaySnapshot
from .monitor import MonitorConfig, OverlayMonitor
from .table import build_table


def snapshots_from_backend(backend: OverlayBackend, interval_s: float,
                           ping_period_s: float = 5.0) -> Iterator[OverlaySnapshot]:
    monitor = OverlayMonitor(backend, MonitorConfig(poll_period_s=interval_s,
                                                    ping_period_s=ping_period_s))
    try:
        while True:
            yield monitor.poll().snapshot
            time.sleep(interval_s)
    finally:
        monitor.close()


def watch(snapshots: Iterator[OverlaySnapshot | None], console: Console, count: int = 0,
          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Show each snapshot; None shows a STALE banner. Returns the number of updates shown."""
    shown = 0

    def render(snapshot: OverlaySnapshot | None) -> Any:
        if snapshot is None:
            return "[bold red]STALE[/]: no status from the monitor (is it running?)"
        return build_table(snapshot, clock())

    if console.is_terminal:
        with Live(console=console, auto_refresh=False) as live:
            for snapshot in snapshots:
                live.update(render(snapshot), refresh=True)
                shown += 1
                if count and shown >= count:
                    break
    else:
        for snapshot in snapshots:
            console.print(render(snapshot))
            shown += 1
            if count and shown >= count:
                break
    return shown

