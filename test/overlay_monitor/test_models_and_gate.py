"""peer_fingerprint covers every Peer field (it is derived from the dataclass); the full-update
gate makes a full update on every visible change and otherwise once per period."""
import dataclasses
import math
from datetime import datetime, timezone

import pytest

from overlay_monitor.models import LinkState, OverlaySnapshot, Peer, peer_fingerprint
from overlay_monitor.monitor import FullUpdateGate

CHANGED = {"hostname": "other", "public_key": "k2", "dns_name": "x.", "overlay_ips": ["1.2.3.4"],
           "os": "windows", "tags": ["tag:b"], "online": True, "state": LinkState.DERP,
           "derp_region": "lib", "endpoint": "1.1.1.1:1", "rtt_ms": 3.0, "rx_bytes": 9,
           "tx_bytes": 9, "rx_bytes_per_s": 1.0, "tx_bytes_per_s": 1.0,
           "last_handshake": datetime(2026, 1, 1, tzinfo=timezone.utc),
           "last_seen": datetime(2026, 1, 2, tzinfo=timezone.utc), "expired": True}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Peer)])
def test_every_peer_field_is_part_of_the_fingerprint(field):
    assert field in CHANGED, f"new Peer field {field!r}: add a changed value here"
    base = Peer(hostname="r1", public_key="k1")
    changed = dataclasses.replace(base, **{field: CHANGED[field]})
    assert peer_fingerprint(base) != peer_fingerprint(changed)
    hash(peer_fingerprint(changed))  # usable as a cache key


def test_nan_fingerprints_compare_equal():
    assert peer_fingerprint(Peer("r1", rtt_ms=math.nan)) == peer_fingerprint(Peer("r1"))


def _snapshot(state=LinkState.DIRECT, rx=0):
    return OverlaySnapshot("tailscale", "Running", True, None,
                           [Peer("r2", "k2", state=state, rx_bytes=rx)])


def test_full_update_on_visible_change_else_once_per_period():
    gate = FullUpdateGate(period_s=2.0)
    assert gate.due(_snapshot(), 0.0)                   # first poll
    assert not gate.due(_snapshot(rx=100), 0.5)         # counters only
    assert gate.due(_snapshot(LinkState.DERP, 100), 1.0)  # path changed: at once
    assert not gate.due(_snapshot(LinkState.DERP, 200), 1.5)
    assert gate.due(_snapshot(LinkState.DERP, 300), 3.0)  # the period passed
    assert FullUpdateGate(period_s=0.0).due(_snapshot(), 0.0)
