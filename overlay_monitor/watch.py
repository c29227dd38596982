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

from rich.console import Console, Group
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


#: one update: a snapshot, None (nothing fresh), or every robot's by name (a fleet)
Update = OverlaySnapshot | None | dict[str, OverlaySnapshot | None]


def watch(snapshots: Iterator[Update], console: Console, count: int = 0,
          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    """Show each update; None shows a STALE banner; a fleet shows one table per robot (a robot
    with nothing fresh shows its own STALE line). Returns the number of updates shown."""
    shown = 0

    def render(update: Update) -> Any:
        if update is None:
            return "[bold red]STALE[/]: no status from the monitor (is it running?)"
        if isinstance(update, dict):
            if not update:
                return "[bold red]STALE[/]: no robot's monitor status seen yet (is one running?)"
            return Group(*[f"[bold red]STALE[/]: no fresh status from {robot}" if snap is None
                           else build_table(snap, clock(), title=f"{robot}: {snap.backend} "
                                                                  f"{snap.backend_state}")
                           for robot, snap in update.items()])
        return build_table(update, clock())

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

