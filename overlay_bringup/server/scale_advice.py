"""What a team's size costs in discovery traffic, from measured figures. Pure.

``bench/fleet_scale.py`` measured, in the real-component lab, the discovery traffic each robot
sends on tailscale0 while idle with 3 nodes per robot (one publisher and one subscriber each),
at several fleet sizes (docs/results.md, "Fleet scale"). ``overlay-server check`` uses those
figures: for a team whose mode sends many times what another mode would at its size, it warns
with both figures and where they came from. Between and beyond the measured sizes the figures
are interpolated on log-log axes (discovery grows as a power of the fleet size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: where the figures come from (cited in every warning)
SOURCE = ("measured by bench/fleet_scale.py with 3 idle nodes per robot on the restrictive "
          "campus: docs/results.md, 'Fleet scale'")
#: measured tx bytes/s per robot on tailscale0: mode -> ((robots, bytes/s), ...), 2026-12-02.
#: At 20 robots the lab machine (2 cores) ran at 96-100 % with the three DDS modes, so their
#: 20-robot figures are what it could carry: fastdds-peers and fastdds-server keep them as
#: lower bounds (the server's was measured twice, 277 and 281 kB/s), static-peers stops at 10.
#: fastdds-peers was measured again with the profile's maxInitialPeersRange 16 (the
#: generated default since 2026-12-02; Fast DDS's own 4 sent 16836/36925/450668 B/s but lost
#: a fifth process per robot).
DISCOVERY_BYTES_PER_S: dict[str, tuple[tuple[int, float], ...]] = {
    "fastdds-peers": ((5, 42644.0), (10, 92085.0), (20, 413912.0)),
    "static-peers": ((5, 85200.0), (10, 403795.0)),
    "fastdds-server": ((5, 1100.0), (10, 1208.0), (20, 276520.0)),
    "zenoh-bridge": ((5, 324.0), (10, 711.0), (20, 4093.0)),
}
#: a mode costs too much when it sends this many times the cheapest mode's traffic …
RATIO_LINE = 10.0
#: … and at least this much per robot (below it nobody notices)
FLOOR_BYTES_PER_S = 25_000.0


@dataclass(frozen=True)
class Estimate:
    mode: str
    robots: int
    bytes_per_s: float
    measured: bool  # False: interpolated or extrapolated


def estimate(mode: str, robots: int) -> Estimate | None:
    """Discovery bytes/s per robot of ``mode`` in a team of ``robots`` (None: not measured)."""
    points = sorted(DISCOVERY_BYTES_PER_S.get(mode, ()))
    if not points or robots < 1:
        return None
    for n, value in points:
        if n == robots:
            return Estimate(mode, robots, value, True)
    if len(points) == 1:
        return Estimate(mode, robots, points[0][1], False)
    # the two measured sizes around ``robots`` (or the two nearest ends), on log-log axes
    below = [p for p in points if p[0] < robots]
    above = [p for p in points if p[0] > robots]
    if below and above:
        (n0, v0), (n1, v1) = below[-1], above[0]
    elif above:
        (n0, v0), (n1, v1) = points[0], points[1]
    else:
        (n0, v0), (n1, v1) = points[-2], points[-1]
    v0, v1 = max(v0, 1.0), max(v1, 1.0)
    slope = (math.log(v1) - math.log(v0)) / (math.log(n1) - math.log(n0))
    value = math.exp(math.log(v0) + slope * (math.log(robots) - math.log(n0)))
    return Estimate(mode, robots, value, False)


def _kb(value: float) -> str:
    return f"{value / 1000:.1f} kB/s" if value >= 1000 else f"{value:.0f} B/s"


def discovery_warning(team: str, mode: str, robots: int) -> str | None:
    """A warning when ``mode`` costs at least ``RATIO_LINE`` times the cheapest measured mode
    at this size, and more than ``FLOOR_BYTES_PER_S``; None otherwise (or when unmeasured)."""
    mine = estimate(mode, robots)
    if mine is None or mine.bytes_per_s < FLOOR_BYTES_PER_S:
        return None
    others = [e for m in sorted(DISCOVERY_BYTES_PER_S) if m != mode
              and (e := estimate(m, robots)) is not None]
    if not others:
        return None
    cheapest = min(others, key=lambda e: e.bytes_per_s)
    if mine.bytes_per_s < RATIO_LINE * max(cheapest.bytes_per_s, 1.0):
        return None
    how = "measured" if mine.measured else "estimated from the measured sizes"
    cheaper = [e for e in others if e.bytes_per_s * RATIO_LINE <= mine.bytes_per_s]
    alternatives = ", ".join(f"{e.mode} {_kb(e.bytes_per_s)}" for e in
                             sorted(cheaper, key=lambda e: e.bytes_per_s)[:2])
    return (f"{team}: {robots} robots with {mode} send about {_kb(mine.bytes_per_s)} of "
            f"discovery per robot ({how}); {alternatives} instead. Figures {SOURCE}")
