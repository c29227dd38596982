"""The monitor engine: poll a backend, complete and judge what it reports, probe RTTs.

No rclpy: the ROS node calls ``poll()`` from a worker thread and publishes the result; the CLI
calls it directly. A backend that cannot be read never raises out of ``poll()``: the update is
marked stale (every check STALE, with the reason) and the next poll tries again.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .backends.base import OverlayBackend
from .errors import InputError
from .health import Check, CheckCache, HealthThresholds, stale_checks
from .models import LinkState, OverlaySnapshot, Peer
from .tracker import LinkEvent, LinkTracker


@dataclass(frozen=True)
class MonitorConfig:
    poll_period_s: float = 0.5
    ping_period_s: float = 10.0     # 0 switches RTT probes off
    max_pings_in_flight: int = 4
    ping_timeout_s: float = 5.0
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    watch: frozenset[str] = frozenset()    # only these peers (names, IPs or keys); empty = all
    ignore: frozenset[str] = frozenset()   # never these peers
    #: a full update (status + health checks) comes at once when a peer's path, reachability,
    #: endpoint or region changes, and at least this often for counters and rates
    full_period_s: float = 2.0

    def __post_init__(self) -> None:
        if self.poll_period_s <= 0:
            raise InputError(f"poll period {self.poll_period_s:g} s must be > 0")
        if self.ping_period_s < 0:
            raise InputError(f"ping period {self.ping_period_s:g} s must be >= 0 (0 = off)")
        if self.max_pings_in_flight < 1:
            raise InputError(f"max pings in flight {self.max_pings_in_flight} must be >= 1")
        if self.full_period_s < 0:
            raise InputError(f"full update period {self.full_period_s:g} s must be >= 0 "
                             "(0 = every poll)")


def _identities(peer: Peer) -> set[str]:
    names = {peer.hostname, peer.key, peer.public_key, *peer.overlay_ips}
    if peer.dns_name:
        names |= {peer.dns_name.rstrip("."), peer.dns_name.split(".")[0]}
    return {n for n in names if n}


def select_peers(peers: Iterable[Peer], watch: frozenset[str], ignore: frozenset[str]) -> list[Peer]:
    chosen = []
    for peer in peers:
        ids = _identities(peer)
        if watch and not ids & watch:
            continue
        if ids & ignore:
            continue
        chosen.append(peer)
    return chosen


@dataclass
class PingScheduler:
    """Which peers to probe now: each at most once per period, one probe in flight per peer,
    at most ``max_in_flight`` in all, the longest-waiting first."""

    period_s: float
    max_in_flight: int
    _last_start: dict[str, float] = field(default_factory=dict)
    _in_flight: set[str] = field(default_factory=set)

    def due(self, keys: Iterable[str], now_s: float) -> list[str]:
        if self.period_s <= 0:
            return []
        free = self.max_in_flight - len(self._in_flight)
        if free <= 0:
            return []
        waiting = [k for k in keys if k not in self._in_flight
                   and now_s - self._last_start.get(k, -math.inf) >= self.period_s]
        waiting.sort(key=lambda k: self._last_start.get(k, -math.inf))
        return waiting[:free]

    def start(self, key: str, now_s: float) -> None:
        self._in_flight.add(key)
        self._last_start[key] = now_s

    def finish(self, key: str) -> None:
        self._in_flight.discard(key)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)


def _visible_state(snapshot: OverlaySnapshot) -> tuple[object, ...]:
    """What a person watching the overlay would call a change (counters and rates are not)."""
    return (snapshot.backend_state, snapshot.reachable, snapshot.udp, snapshot.home_derp, tuple(
        (p.key, p.state, p.online, p.endpoint, p.derp_region, p.expired)
        for p in snapshot.peers))


@dataclass
class FullUpdateGate:
    """Whether a poll carries a full update: at once when the visible state changed, else once
    per ``period_s``. Between full updates a poll only tracks (events stay immediate): parsing
    and tracking cost about as much as reading the JSON, while judging every peer and building
    its ROS message costs several times that."""

    period_s: float
    _last_state: tuple[object, ...] | None = None
    _last_full_s: float = -math.inf

    def due(self, snapshot: OverlaySnapshot, now_s: float) -> bool:
        state = _visible_state(snapshot)
        if state != self._last_state or now_s - self._last_full_s >= self.period_s:
            self._last_state, self._last_full_s = state, now_s
            return True
        return False


@dataclass
class MonitorUpdate:
    snapshot: OverlaySnapshot
    events: list[LinkEvent]
    checks: list[Check]
    #: status and checks are fresh (publish them); False: only events happened
    full: bool = True


class OverlayMonitor:
    def __init__(self, backend: OverlayBackend, config: MonitorConfig,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.backend = backend
        self.config = config
        self._clock = clock
        self._wallclock = wallclock
        self._tracker = LinkTracker(
            rtt_max_age_s=max(30.0, 3 * config.ping_period_s),
            failed_probe_means_offline=backend.probe_decides_reachability)
        self._scheduler = PingScheduler(config.ping_period_s, config.max_pings_in_flight)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=config.max_pings_in_flight,
                                        thread_name_prefix="overlay-ping")
        self._checks = CheckCache()
        self._last_good: OverlaySnapshot | None = None
        self._reachable: bool | None = None
        self._gate = FullUpdateGate(config.full_period_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()

    def poll(self) -> MonitorUpdate:
        now_s = self._clock()
        try:
            snapshot = self.backend.snapshot()
        except Exception as err:  # every failure becomes STALE; the next poll tries again
            return self._stale(str(err) or err.__class__.__name__)
        snapshot.peers = select_peers(snapshot.peers, self.config.watch, self.config.ignore)
        with self._lock:
            events = self._tracker.update(snapshot, now_s)
        if self._reachable is False:
            events.insert(0, LinkEvent("backend", "", "", "unreachable", snapshot.backend_state,
                                       f"{snapshot.backend} backend readable again"))
        self._reachable = True
        self._last_good = snapshot
        self._schedule_pings(snapshot.peers, now_s)
        if not self._gate.due(snapshot, now_s) and not events:
            return MonitorUpdate(snapshot, events, [], full=False)
        return MonitorUpdate(snapshot, events,
                             self._checks.checks(snapshot, self.config.thresholds))

    def _stale(self, reason: str) -> MonitorUpdate:
        last = self._last_good
        events = []
        if self._reachable is not False:
            events.append(LinkEvent("backend", "", "", last.backend_state if last else "",
                                    "unreachable", f"{self.backend.name} backend not readable: {reason}"))
        self._reachable = False
        snapshot = OverlaySnapshot(
            backend=self.backend.name, backend_state=last.backend_state if last else "unknown",
            reachable=False, self_peer=last.self_peer if last else None, peers=[],
            taken_at=self._wallclock(), error=reason)
        names = [p.hostname for p in last.peers] if last else []
        return MonitorUpdate(snapshot, events, stale_checks(reason, names))

    def _schedule_pings(self, peers: list[Peer], now_s: float) -> None:
        # an offline peer is probed only where the probe is what decides reachability
        probe_all = self.backend.probe_decides_reachability
        candidates = {p.key: p for p in peers if p.overlay_ips
                      and (probe_all or p.state is not LinkState.OFFLINE)}
        with self._lock:
            due = self._scheduler.due(candidates, now_s)
            for key in due:
                self._scheduler.start(key, now_s)
        for key in due:
            self._pool.submit(self._probe, candidates[key])

    def _probe(self, peer: Peer) -> None:
        try:
            rtt = self.backend.probe_rtt_ms(peer, self.config.ping_timeout_s)
        except Exception:  # a failed probe is an unknown RTT, never a crash
            rtt = math.nan
        with self._lock:
            self._tracker.record_rtt(peer.key, rtt, self._clock())
            self._scheduler.finish(peer.key)

    @property
    def pings_in_flight(self) -> int:
        with self._lock:
            return self._scheduler.in_flight
