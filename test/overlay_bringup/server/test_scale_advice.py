"""overlay-server check's discovery advice, from the figures bench/fleet_scale.py measured."""
import subprocess

import yaml

from overlay_bringup.server.scale_advice import DISCOVERY_BYTES_PER_S, SOURCE, discovery_warning, estimate
from overlay_testing import REPO, overlay_cli


def test_a_measured_size_gives_the_measured_figure():
    n, value = DISCOVERY_BYTES_PER_S["fastdds-peers"][1]
    found = estimate("fastdds-peers", n)
    assert found is not None and found.measured and found.bytes_per_s == value


def test_between_and_beyond_the_measured_sizes_the_estimate_grows_with_the_team():
    sizes = [3, 5, 7, 10, 15, 20, 30, 40]
    for mode in DISCOVERY_BYTES_PER_S:
        values = [estimate(mode, n).bytes_per_s for n in sizes]
        assert values == sorted(values), (mode, values)
    assert not estimate("fastdds-peers", 7).measured
    assert estimate("ros1", 10) is None  # never measured: no advice


def test_a_big_fastdds_peers_team_is_warned_with_both_figures_and_the_source():
    text = discovery_warning("team-a", "fastdds-peers", 10)
    assert text is not None
    assert text.startswith("team-a: 10 robots with fastdds-peers send about 92.1 kB/s")
    assert "zenoh-bridge 711 B/s, fastdds-server 1.2 kB/s instead" in text and SOURCE in text
    # only modes at least RATIO_LINE times cheaper are offered instead
    bigger = discovery_warning("team-a", "fastdds-server", 20)
    assert bigger is not None and "zenoh-bridge" in bigger and "fastdds-peers" not in bigger


def test_small_teams_and_cheap_modes_are_not_warned():
    assert discovery_warning("team-a", "fastdds-peers", 2) is None  # below the floor
    assert discovery_warning("team-a", "zenoh-bridge", 40) is None  # the cheapest itself
    assert discovery_warning("team-a", "cyclone", 40) is None       # not measured


def test_check_prints_the_advice_and_still_passes(tmp_path):
    raw = yaml.safe_load((REPO / "config" / "fleet.example.yaml").read_text())
    raw["teams"][0]["robots"] = [f"robot{i}" for i in range(1, 25)]
    raw["teams"][0]["discovery"] = "fastdds-peers"
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(yaml.safe_dump(raw))
    result = subprocess.run([*overlay_cli("overlay-server"), "check", "--inventory",
                             str(inventory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    name = raw["teams"][0]["name"]
    assert f"warning: {name}: 24 robots with fastdds-peers send about" in result.stderr
