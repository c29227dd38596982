import math

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer
from overlay_monitor.topology import STALE_COLOUR, STATE_COLOURS, layout, topology_markers


def _snapshot(reachable=True):
    peers = [Peer(hostname="robot3", overlay_ips=["100.64.0.3"], state=LinkState.DERP,
                  derp_region="campus", rtt_ms=31.25),
             Peer(hostname="robot2", overlay_ips=["100.64.0.2"], state=LinkState.DIRECT,
                  rtt_ms=1.5),
             Peer(hostname="robot4", overlay_ips=["100.64.0.4"], state=LinkState.OFFLINE),
             Peer(hostname="robot5", overlay_ips=["100.64.0.5"], state=LinkState.PEER_RELAY,
                  endpoint="198.19.1.2:40641:vni:1", rtt_ms=2.0)]
    return OverlaySnapshot("tailscale", "Running", reachable, Peer(hostname="robot1"), peers)


def test_layout_is_deterministic_and_on_a_circle():
    first = layout(["b", "a", "c"], 2.0)
    assert first == layout(["c", "b", "a"], 2.0)
    assert first["a"] == (2.0, 0.0, 0.0)
    assert all(math.isclose(math.hypot(x, y), 2.0) for x, y, _ in first.values())
    assert len(set(first.values())) == 3


def test_markers_colour_links_by_state_and_label_rtt():
    specs = topology_markers(_snapshot())
    links = {s.marker_id: s for s in specs if s.namespace == "links"}
    rtts = {s.marker_id: s.text for s in specs if s.namespace == "rtt"}
    # ids follow hostname order: robot2=1, robot3=2, robot4=3
    assert links[1].colour == STATE_COLOURS[LinkState.DIRECT]
    assert links[2].colour == STATE_COLOURS[LinkState.DERP]
    assert links[3].colour == STATE_COLOURS[LinkState.OFFLINE]
    assert rtts == {1: "direct 1.5 ms", 2: "derp (campus) 31.2 ms", 3: "offline",
                    4: "peer-relay (198.19.1.2:40641) 2.0 ms"}
    assert links[1].points[0] == (0.0, 0.0, 0.0)
    labels = [s.text for s in specs if s.namespace == "labels"]
    assert labels[0] == "robot1\nRunning" and "robot2\n100.64.0.2" in labels


def test_markers_grey_out_when_stale():
    specs = topology_markers(_snapshot(reachable=False))
    assert all(s.colour == STALE_COLOUR for s in specs if s.namespace in ("links", "members"))
    assert "(STALE)" in specs[1].text
