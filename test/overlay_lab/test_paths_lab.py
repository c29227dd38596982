"""`overlay-lab paths` on the real components, short: one command measures direct, peer relay
and DERP against the underlay, and writes the dataset and the report with the three paths side
by side. The monitor's state stored with each overlay record proves each path was the one
named."""
import subprocess

import pytest

from overlay_lab.runner import lab_namespaces
from overlay_monitor.linktest.dataset import load_records
from overlay_monitor.linktest.report import overhead_rows, ros_rows
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("opt")


def test_paths_experiment_writes_three_paths_side_by_side(tmp_path):
    real_components_preconditions()
    dataset, report = tmp_path / "paths.jsonl", tmp_path / "report"
    result = subprocess.run([*overlay_cli("overlay-lab"), "paths", "--prefix", PREFIX,
                             "--seconds", "2", "--dataset", str(dataset), "--report",
                             str(report)], capture_output=True, text=True, timeout=900)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stderr[-2000:]
    records = load_records(dataset)
    states = {(r.location, r.path): r.connection_state for r in records}
    assert {k: v for k, v in states.items() if k[1] == "overlay"} == {
        ("r1-r2 direct", "overlay"): "direct", ("r1-r2 peer relay", "overlay"): "peer-relay",
        ("r1-r2 DERP", "overlay"): "derp"}
    assert sorted(loc for loc, path in states if path == "underlay") == [
        "r1-r2 DERP", "r1-r2 direct", "r1-r2 peer relay"]
    for record in records:
        assert record.throughput_tool == "iperf3" and record.tcp_bps > 0, record
        assert [m["size_bytes"] for m in record.ros_messages] == [100_000, 1_000_000]
        assert all(m["sent"] > 0 for m in record.ros_messages), record.ros_messages
    assert [r["location"] for r in overhead_rows(records)] == [
        "r1-r2 DERP", "r1-r2 direct", "r1-r2 peer relay"]
    assert len(ros_rows(records)) == 6
    page = (report / "index.html").read_text()
    assert "r1-r2 peer relay" in page and "ROS 2 messages per location" in page
    assert (report / "log_change.png").stat().st_size > 5000
    assert lab_namespaces(PREFIX) == []  # the experiment took its lab down
