from dataclasses import asdict
from datetime import datetime, timedelta, timezone

import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.models import LinkState
from overlay_monitor.wireguard_dump import (
    classify_wireguard_peer,
    parse_wg_dump,
    snapshot_from_dump,
)
from overlay_testing import FIXTURES

DUMP = (FIXTURES / "wg_dump_r1.txt").read_text()
HANDSHAKE = datetime.fromtimestamp(1795653066, tz=timezone.utc)


def test_wg_dump_parses_interface_and_peers():
    dump = parse_wg_dump(DUMP, "ovlwg1")
    assert dump.public_key == "3tU23hpQtVw/UfDKW4+A6n41sT0zx1Gwv7yC3rnw9Xs="
    assert dump.listen_port == 51820
    relayed, direct, unknown = dump.peers
    assert relayed.endpoint == "198.18.1.1:40000" and relayed.latest_handshake is None
    assert direct.latest_handshake == HANDSHAKE
    assert (direct.rx_bytes, direct.tx_bytes, direct.keepalive_s) == (180, 272, 25)
    assert direct.allowed_ips == ("100.64.0.3/32",)
    assert unknown.endpoint == "" and unknown.allowed_ips == () and unknown.keepalive_s == 0


def test_wg_dump_never_keeps_the_private_key():
    dump = parse_wg_dump(DUMP, "ovlwg1")
    assert "TEST-PRIVATE-KEY" not in repr(dump) + str(asdict(dump))


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("a\tb\tc\n", "line 1 has 3 fields"),
    ("k\tp\t51820\toff\nx\t(none)\t(none)\t(none)\t0\t0\n", "line 2 has 6 fields"),
    ("k\tp\t51820\toff\nx\t(none)\t(none)\t(none)\tsoon\t0\t0\toff\n",
     "latest handshake 'soon' is not an integer"),
])
def test_wg_dump_rejects_malformed_text(text, message):
    with pytest.raises(InputError, match=message):
        parse_wg_dump(text, "wg0")


def test_wireguard_peer_state_follows_handshake_age_and_keepalive():
    direct = parse_wg_dump(DUMP, "ovlwg1").peers[1]
    assert classify_wireguard_peer(direct, HANDSHAKE + timedelta(seconds=30)) is LinkState.DIRECT
    assert classify_wireguard_peer(direct, HANDSHAKE + timedelta(seconds=181)) is LinkState.OFFLINE
    silent = parse_wg_dump(DUMP, "ovlwg1").peers[2]
    assert classify_wireguard_peer(silent, HANDSHAKE) is LinkState.IDLE


def test_snapshot_names_peers_and_keeps_counters():
    dump = parse_wg_dump(DUMP, "ovlwg1")
    names = {"Om2ZyUkp93ShVbmQyT6ApxgYuGnphowaVpYqAFqSeAg=": "r3", "100.64.0.2": "r2"}
    snap = snapshot_from_dump(dump, HANDSHAKE + timedelta(seconds=5), names)
    by_name = {p.hostname: p for p in snap.peers}
    assert set(by_name) >= {"r2", "r3"}
    assert by_name["r3"].state is LinkState.DIRECT and by_name["r3"].online
    assert by_name["r3"].endpoint == "198.18.3.2:51820" and by_name["r3"].rx_bytes == 180
    assert by_name["r2"].state is LinkState.OFFLINE and by_name["r2"].endpoint == ""
    assert snap.backend == "wireguard" and snap.reachable
