"""The generated Prometheus config, alert rules and rule unit tests pass the real promtool
(`check config`, `check rules`, `test rules`); file-based targets come from Headscale's nodes."""
import json
import shutil
import subprocess

import pytest
import yaml

from overlay_bringup.server.headscale_api import HeadscaleNode
from overlay_bringup.server.inventory import load_inventory
from overlay_bringup.server.prometheus import file_sd_targets, prometheus_config
from overlay_testing import REPO, inventory_path, overlay_cli, skip_or_fail

INV = load_inventory(REPO / "config" / "fleet.example.yaml")


@pytest.fixture(scope="module", params=["fleet.example.yaml", "lab-fleet.yaml"])
def generated(tmp_path_factory, request):
    out = tmp_path_factory.mktemp(f"{request.param}-", numbered=True)
    result = subprocess.run([*overlay_cli("overlay-server"), "generate", "--inventory",
                             str(inventory_path(request.param)), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out / "prometheus"


def _promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool not installed (Debian package prometheus; tools/setup.sh)")
    return promtool


def test_scrape_config_reaches_every_robot_by_magicdns_name_and_headscale(generated):
    config = prometheus_config(INV)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["overlay_robots"]["file_sd_configs"][0]["files"] == ["targets/overlay_nodes.json"]
    assert jobs["headscale"]["static_configs"][0]["targets"] == ["127.0.0.1:9090"]
    # until 'prometheus-targets' runs, the targets are the inventory's robots by MagicDNS name
    groups = json.loads((generated / "targets" / "overlay_nodes.json").read_text())
    robots = {t for group in groups for t in group["targets"]}
    inventory = load_inventory(inventory_path(generated.parent.name.rsplit("-", 1)[0]))
    assert robots == {f"{r}.{inventory.base_domain}:9101" for t in inventory.teams
                      for r in t.robots}
    assert {g["labels"]["team"] for g in groups} == {t.name for t in inventory.teams}


@pytest.mark.parametrize("verb, name", [("config", "prometheus.yml"),
                                        ("rules", "overlay_rules.yml")])
def test_promtool_checks_the_generated_files(generated, verb, name):
    result = subprocess.run([_promtool(), "check", verb, str(generated / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_runs_the_alert_rule_unit_tests(generated):
    result = subprocess.run([_promtool(), "test", "rules", "overlay_rules_test.yml"],
                            cwd=generated, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    rules = yaml.safe_load((generated / "overlay_rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {"OverlayPeerRelayedThroughDerp", "OverlayPeerOffline",
                     "OverlayPeerRttHigh", "OverlayExporterStale"}


def test_file_sd_targets_from_headscale_nodes():
    nodes = [HeadscaleNode(2, "r2", "", ("100.64.0.2", "fd7a:115c:a1e0::2"), True, ("tag:a",),
                           None),
             HeadscaleNode(1, "r1", "", ("fd7a:115c:a1e0::1",), True, (), None)]
    nodes.append(HeadscaleNode(3, "prometheus", "", ("100.64.0.9",), True, ("tag:monitoring",),
                               None))
    nodes.append(HeadscaleNode(4, "alice-laptop", "alice", ("100.64.0.5",), True, (), None))
    assert file_sd_targets(nodes) == [
        {"targets": ["100.64.0.5:9101"], "labels": {"node": "alice-laptop", "team": "user:alice",
                                                    "robot": "alice_laptop"}},
        {"targets": ["100.64.0.2:9101"], "labels": {"node": "r2", "team": "a", "robot": "r2"}}]


def test_dashboard_is_built_with_the_sdk_and_committed_as_generated():
    from overlay_bringup.server.dashboard import PANEL_QUERIES, render_dashboard
    text = render_dashboard()
    assert (REPO / "config" / "grafana" / "overlay_fleet.json").read_text() == text
    board = json.loads(text)
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert [p["title"] for p in panels] == list(PANEL_QUERIES)
    assert {p["type"] for p in panels} == {"state-timeline", "timeseries"}
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs == [q for queries in PANEL_QUERIES.values() for q, _ in queries]


def test_fleet_report_series_from_a_query_range_answer_and_errors():
    from overlay_bringup.server.fleet_report import series_from_query_range
    from overlay_monitor.errors import InputError
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"instance": "100.64.0.1:9101", "peer": "r2"},
         "values": [[1700000000, "2"], [1700000015, "1"]]}]}}
    (series,) = series_from_query_range(answer)
    assert series.values == [2.0, 1.0] and series.name(("instance", "peer")) == \
        "100.64.0.1:9101 → r2"
    with pytest.raises(InputError, match="parse error"):
        series_from_query_range({"status": "error", "error": "parse error at char 3"})
