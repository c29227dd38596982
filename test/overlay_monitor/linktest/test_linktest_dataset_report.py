import json
import math
import subprocess

import pytest

from overlay_monitor.errors import InputError
from overlay_monitor.linktest.dataset import LinkTestRecord, append_records, load_records
from overlay_monitor.linktest.report import overhead_rows, ros_rows, write_report
from overlay_testing import REPO, free_port_pair, overlay_cli

EXAMPLE = REPO / "docs" / "example-report" / "dataset.jsonl"


def _record(path, location, rtt, tcp, when="2026-11-26T10:00:00+00:00"):
    return LinkTestRecord(timestamp=when, location=location, target="100.64.0.2", path=path,
                          connection_state="derp" if path == "overlay" else "underlay",
                          rtt_avg_ms=rtt, rtt_samples_ms=[rtt, rtt + 1], tcp_bps=tcp,
                          tcp_intervals_bps=[tcp, tcp], udp_jitter_ms=0.5, loss_percent=0.0)


def test_dataset_appends_lines_and_reads_them_back_with_nan_as_null(tmp_path):
    dataset = tmp_path / "d.jsonl"
    append_records(dataset, [_record("underlay", "lab", 1.0, 100e6)])
    append_records(dataset, [_record("overlay", "lab", 2.0, math.nan)])
    lines = dataset.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["tcp_bps"] is None
    records = load_records(dataset)
    assert records[0].tcp_bps == 100e6 and math.isnan(records[1].tcp_bps)


def test_dataset_bad_lines_are_all_named(tmp_path):
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"timestamp": "t", "location": "x", "target": "y", "path": "moon"}\n'
                       "not json\n{}\n")
    with pytest.raises(InputError, match=r"3 bad line\(s\)") as caught:
        load_records(dataset)
    text = str(caught.value)
    assert "d.jsonl:1: path 'moon' is not overlay or underlay" in text
    assert "d.jsonl:3: missing timestamp, location, target, path" in text


def test_overhead_table_uses_the_latest_pair_per_location():
    records = [_record("underlay", "library", 10.0, 100e6),
               _record("overlay", "library", 12.35, 63e6),
               _record("overlay", "bar", 30.0, 10e6)]
    rows = overhead_rows(records)
    assert [r["location"] for r in rows] == ["library"]  # bar has no underlay measurement
    assert rows[0]["tp_loss"] == "46.20 %" and rows[0]["rtt_inc"] == "21.11 %"
    assert rows[0]["state"] == "derp"


def test_report_writes_html_and_figures(tmp_path):
    page = write_report(load_records(EXAMPLE), tmp_path)
    html = page.read_text()
    for name in ("throughput_over_time.png", "rtt_distribution.png", "per_location.png",
                 "log_change.png"):
        assert (tmp_path / name).stat().st_size > 5000
        assert f'src="{name}"' in html
    assert "relayed r1-r2" in html and "throughput loss" in html
    with pytest.raises(InputError, match="no records"):
        write_report([], tmp_path)


def test_linktest_cli_run_and_report_over_loopback(tmp_path):
    port = str(free_port_pair())
    server = subprocess.Popen([*overlay_cli("overlay-linktest"), "serve", "--bind", "127.0.0.1",
                               "--port", port], stdout=subprocess.PIPE, text=True)
    try:
        assert f"serving on 127.0.0.1:{port}" in server.stdout.readline()
        dataset = tmp_path / "d.jsonl"
        run = subprocess.run([*overlay_cli("overlay-linktest"), "run", "--target", "127.0.0.1",
                              "--underlay", "127.0.0.1", "--location", "loopback", "--port",
                              port, "--duration", "0.5", "--count", "3", "--interval", "0.05",
                              "--tool", "builtin", "--dataset", str(dataset), "--backend",
                              "wireguard", "--interface", "lo", "--json"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        records = json.loads(run.stdout)
        assert [r["path"] for r in records] == ["overlay", "underlay"]
        assert all(r["tcp_bps"] > 0 and r["rtt_avg_ms"] > 0 for r in records)
        assert records[0]["connection_state"] == "unknown"  # lo is no WireGuard interface
        report = subprocess.run([*overlay_cli("overlay-linktest"), "report", "--dataset",
                                 str(dataset), "--out", str(tmp_path / "r")],
                                capture_output=True, text=True, timeout=120)
        assert report.returncode == 0 and (tmp_path / "r" / "index.html").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)
    bad = subprocess.run([*overlay_cli("overlay-linktest"), "run", "--target", "127.0.0.1",
                          "--count", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ping count 0 is out of range (1..1000)" in bad.stderr


def _ros(received, sent=80, size=1_000_000, latency=60.0):
    return {"size_bytes": size, "rate_hz": 10.0, "sent": sent, "received": received,
            "latency_ms_median": latency, "latency_ms_p95": latency * 2}


def test_ros_rows_put_overlay_next_to_underlay_in_measurement_order(tmp_path):
    records = []
    for minute, (location, got) in enumerate((("r1-r2 direct", 40), ("r1-r2 DERP", 20))):
        when = f"2026-11-30T10:0{minute}:00+00:00"
        under, over = _record("underlay", location, 0.1, 100e6, when), \
            _record("overlay", location, 1.0, 50e6, when)
        under.ros_messages = [_ros(80, size=100_000), _ros(80)]
        over.ros_messages = [_ros(80, size=100_000), _ros(got, latency=900.0)]
        records += [under, over]
    rows = ros_rows(records)
    assert [(r["location"], r["message"]) for r in rows] == [
        ("r1-r2 direct", "100 kB at 10 Hz"), ("r1-r2 direct", "1 MB at 10 Hz"),
        ("r1-r2 DERP", "100 kB at 10 Hz"), ("r1-r2 DERP", "1 MB at 10 Hz")]
    assert rows[1]["got_over"] == "40/80" and rows[1]["got_under"] == "80/80"
    assert rows[1]["delivery_loss"] == "69.31 %" and rows[0]["delivery_loss"] == "0.00 %"
    assert rows[3]["lat_over"] == "900.00 ms"
    dataset = tmp_path / "paths.jsonl"
    append_records(dataset, records)
    assert load_records(dataset)[1].ros_messages[1]["received"] == 40
    html = write_report(load_records(dataset), tmp_path / "report").read_text()
    assert "ROS 2 messages per location" in html and "69.31 %" in html
    assert (tmp_path / "report" / "log_change.png").stat().st_size > 5000


def test_report_without_ros_results_has_no_ros_table(tmp_path):
    records = [_record("underlay", "lab", 1.0, 100e6), _record("overlay", "lab", 2.0, 50e6)]
    html = write_report(records, tmp_path).read_text()
    assert "ROS 2 messages per location" not in html and ros_rows(records) == []
