"""Peer relays on the real components: a restrictive campus (robots cannot reach each other)
with a relay host that robots reach on one UDP port. Every pair goes through the relay, as
`tailscale ping`, `tailscale status --json` and the monitor all say; with the relay down the
monitor shows DERP, an event and the "relay configured but not used" warning; with it back,
peer-relay again."""
import re
import subprocess
import time

import pytest
from lab_probes import keep_talking, monitor_and_probe, monitor_view, tailscale_view

from overlay_lab.paths import wait_path
from overlay_lab.runner import lab_down, set_peer_relay
from overlay_lab.state import load_state
from overlay_lab.topology import PEER_RELAY_IP, PEER_RELAY_PORT
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("opr")
PEER_RELAY_PATH = r"^peer-relay\("
RELAY_ENDPOINT = re.compile(rf"^{re.escape(PEER_RELAY_IP)}:{PEER_RELAY_PORT}:vni:\d+$")


def _lab(*args):
    """``overlay-lab`` as the README runs it."""
    result = subprocess.run([*overlay_cli("overlay-lab"), *args, "--prefix", PREFIX],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]
    return result.stdout


@pytest.fixture(scope="module")
def relay_lab():
    real_components_preconditions()
    try:
        _lab("up", "--overlay", "tailscale", "--campus", "restrictive", "--peer-relay")
        yield load_state(PREFIX)
    finally:
        lab_down(PREFIX)


def test_every_pair_goes_through_the_peer_relay_as_tailscale_and_the_monitor_say(relay_lab):
    state = relay_lab
    times = []
    for robot in state.robots:
        for other in state.robots:
            if other is robot:
                continue
            start = time.monotonic()
            via = wait_path(state, robot.name, other.tailscale_ips[0], PEER_RELAY_PATH, 60)
            times.append(time.monotonic() - start)
            assert via.startswith("peer-relay("), (robot.name, other.name, via)
            endpoint = via[len("peer-relay("):-1]
            assert RELAY_ENDPOINT.match(endpoint), endpoint
            kind, cur_addr, _ = tailscale_view(state, robot.name)[other.name]
            assert (kind, cur_addr) == ("peer-relay", ""), (robot.name, other.name, kind)
            seen = monitor_view(state, robot.name)[other.name]
            assert (seen["state"], seen["endpoint"]) == ("peer-relay", endpoint)
    print(f"first 'via peer-relay' per pair: max {max(times):.1f} s over {len(times)} pairs")


def _r2_warning(record, text):
    return any(name.endswith("peer r2") and text in message
               for name, message in record.get("diag_text", {}).items())


def test_relay_down_is_derp_with_an_event_and_a_warning_then_peer_relay_again(relay_lab):
    state = relay_lab
    r2 = state.robot("r2")
    pingers = keep_talking(state, 150)
    try:
        with monitor_and_probe(state, "r1", seconds=170) as lines:
            wait_path(state, "r1", r2.tailscale_ips[0], PEER_RELAY_PATH, 60)
            lines.until(lambda r: r.get("status", {}).get("r2") == "peer-relay", 30)
            start = time.monotonic()
            _lab("peer-relay", "down")
            lines.until(lambda r: r.get("event", [None])[1:] == ["r2", "peer-relay", "derp"], 30)
            to_derp = time.monotonic() - start
            lines.until(lambda r: _r2_warning(r, "relay configured but not used"), 15)
            # the reason follows what the server knows: dmz offline once headscale says so
            lines.until(lambda r: _r2_warning(r, "relay dmz offline"), 60)
            start = time.monotonic()
            _lab("peer-relay", "up")
            lines.until(lambda r: r.get("event", [None])[1:] == ["r2", "derp", "peer-relay"], 120)
            back = time.monotonic() - start
    finally:
        set_peer_relay(PREFIX, up=True)
        for proc in pingers:
            proc.kill()
    print(f"relay down -> monitor derp event {to_derp:.2f} s; relay up -> peer-relay "
          f"{back:.1f} s")
