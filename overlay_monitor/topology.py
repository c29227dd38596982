"""The overlay's topology as markers for rviz: members as spheres with labels, links as lines
coloured by state and labelled with the RTT. Pure: plain dataclasses, converted to
visualization_msgs by the node.

Layout is deterministic: this member at the origin, peers on a circle in hostname order, so the
picture does not jump between updates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .models import LinkState, OverlaySnapshot
from .table import state_text

Colour = tuple[float, float, float, float]
STATE_COLOURS: dict[LinkState, Colour] = {
    LinkState.DIRECT: (0.1, 0.8, 0.2, 1.0),
    LinkState.DERP: (1.0, 0.75, 0.0, 1.0),
    LinkState.PEER_RELAY: (0.0, 0.75, 0.9, 1.0),
    LinkState.IDLE: (0.4, 0.5, 1.0, 0.6),
    LinkState.OFFLINE: (0.9, 0.1, 0.1, 0.8),
    LinkState.UNKNOWN: (0.6, 0.6, 0.6, 0.6),
}
SELF_COLOUR: Colour = (1.0, 1.0, 1.0, 1.0)
STALE_COLOUR: Colour = (0.5, 0.5, 0.5, 0.4)


@dataclass(frozen=True)
class MarkerSpec:
    kind: str                    # "sphere", "text" or "line"
    namespace: str               # "members", "labels", "links", "rtt"
    marker_id: int
    points: tuple[tuple[float, float, float], ...]
    colour: Colour
    text: str = ""
    scale: float = 0.3


def layout(names: list[str], radius: float) -> dict[str, tuple[float, float, float]]:
    ordered = sorted(names)
    return {name: (radius * math.cos(2 * math.pi * i / len(ordered)),
                   radius * math.sin(2 * math.pi * i / len(ordered)), 0.0)
            for i, name in enumerate(ordered)}


def topology_markers(snapshot: OverlaySnapshot, radius: float = 3.0) -> list[MarkerSpec]:
    stale = not snapshot.reachable
    origin = (0.0, 0.0, 0.0)
    me = snapshot.self_peer.hostname if snapshot.self_peer else "this member"
    specs = [MarkerSpec("sphere", "members", 0, (origin,), STALE_COLOUR if stale else SELF_COLOUR,
                        scale=0.5),
             MarkerSpec("text", "labels", 0, ((0.0, 0.0, 0.6),), SELF_COLOUR,
                        f"{me}\n{snapshot.backend_state}" + (" (STALE)" if stale else ""))]
    positions = layout([p.hostname for p in snapshot.peers], radius)
    by_name = {p.hostname: p for p in snapshot.peers}
    for index, name in enumerate(sorted(positions), start=1):
        peer, where = by_name[name], positions[name]
        colour = STALE_COLOUR if stale else STATE_COLOURS[peer.state]
        state = state_text(peer)
        label = f"{name}\n{peer.overlay_ips[0] if peer.overlay_ips else ''}"
        rtt = "" if math.isnan(peer.rtt_ms) else f"{peer.rtt_ms:.1f} ms"
        middle = (where[0] / 2, where[1] / 2, 0.25)
        specs += [MarkerSpec("sphere", "members", index, (where,), colour),
                  MarkerSpec("text", "labels", index, ((where[0], where[1], 0.5),), colour, label),
                  MarkerSpec("line", "links", index, (origin, where), colour, scale=0.05),
                  MarkerSpec("text", "rtt", index, (middle,), colour,
                             f"{state} {rtt}".strip(), scale=0.2)]
    return specs
