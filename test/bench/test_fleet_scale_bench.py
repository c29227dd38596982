"""bench/fleet_scale.py keeps working: one short run at N = 5 on the restrictive campus, on the
real components. Checks the dataset's and the report's shape, never the speed."""
import json
import subprocess
import sys

import pytest

from overlay_testing import REPO, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]


def test_fleet_scale_runs_at_five_robots_and_writes_its_dataset_and_report(tmp_path):
    real_components_preconditions()
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fleet_scale.py"), "--sizes", "5", "--campuses",
         "restrictive", "--warmup", "2", "--window", "2", "--pairs", "1,2", "--iperf-seconds",
         "2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads((tmp_path / "fleet_scale.json").read_text())
    [run] = data["runs"]
    assert run["campus"] == "restrictive" and run["robots"] == 5
    assert run["up_s"] > 0 and run["join_s_max"] >= run["join_s_median"] > 0
    assert run["headscale_after_up"]["peak_mib"] > 0
    assert run["propagation"]["leave_offline_everywhere_s"] is not None
    assert run["propagation"]["back_online_everywhere_s"] is not None
    modes = [d["mode"] for d in run["discovery"]]
    assert modes[:4] == ["baseline", "fastdds-peers", "static-peers", "fastdds-server"]
    for figures in run["discovery"]:
        assert figures["tx_bytes_per_s"] >= 0 and figures["tx_packets_per_s"] >= 0
        if figures["mode"] != "baseline":  # every mode carries a late talker's messages
            assert figures["late_joiner_first_message_s"] is not None, figures
    # the embedded DERP, then two DERP regions, then the peer relay: the same K each
    for key in ("derp", "derp_region", "peer_relay"):
        assert [d["pairs"] for d in run[key]] == [1, 2], key
        assert all(d["aggregate_mbit_s"] > 0 and len(d["per_pair_mbit_s"]) == d["pairs"]
                   for d in run[key]), key
    assert run["monitor"]["peers"] == 4 and run["monitor"]["real_cycle_ms"] > 0
    text = (tmp_path / "fleet_scale.md").read_text()
    for heading in ("## Control plane", "## Discovery traffic per robot", "## The single DERP"):
        assert heading in text
    assert "| restrictive | 5 | fastdds-peers |" in text
    assert "| 5 | two DERP regions | 2 |" in text
    assert all((tmp_path / name).stat().st_size > 0 for name in (
        "fleet_discovery.png", "fleet_relays.png", "fleet_propagation.png"))
