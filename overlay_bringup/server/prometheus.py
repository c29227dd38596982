"""Prometheus for the fleet: a scrape config that reaches every robot's exporter over the
overlay through file-based discovery (first the inventory's robots by MagicDNS name, then what
``overlay-server prometheus-targets`` writes from Headscale's node list: every member's overlay
address, labelled by team), headscale's own metrics, alert rules, and unit tests for those rules
(``promtool test rules``). Pure: data in, YAML/JSON documents out.
"""
from __future__ import annotations

from typing import Any

import yaml

from overlay_monitor.fleet import robot_namespace

from .headscale_api import HeadscaleNode
from .inventory import Inventory

METRICS_PORT = 9101
RULES_FILE = "overlay_rules.yml"
RULE_TESTS_FILE = "overlay_rules_test.yml"
TARGETS_FILE = "targets/overlay_nodes.json"
RTT_FOR = "5m"
STALE_FOR = "2m"
TEST_INTERVAL_S = 15
_UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    """A Prometheus duration of the inventory (``30s``, ``10m``, ``1h``) in seconds."""
    return int(duration[:-1]) * _UNITS[duration[-1]]


def _humanized(value_s: float) -> str:
    """Prometheus's humanizeDuration for the values the tests use (under a minute)."""
    return f"{value_s * 1000:g}ms" if value_s < 1 else f"{value_s:g}s"


def robot_targets(inv: Inventory) -> list[dict[str, Any]]:
    """One target group per robot: ``<robot>.<base_domain>:<port>``, labelled by team and by
    robot (its ROS namespace), the targets file until ``prometheus-targets`` replaces it."""
    return [{"targets": [f"{robot}.{inv.base_domain}:{inv.robot_metrics_port}"],
             "labels": {"team": team.name, "robot": robot_namespace(robot).lstrip("/")}}
            for team in inv.teams for robot in team.robots]


def prometheus_config(inv: Inventory) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s",
                   "external_labels": {"fleet": inv.base_domain}},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": "overlay_robots",
             "file_sd_configs": [{"files": [TARGETS_FILE], "refresh_interval": "30s"}]},
            {"job_name": "headscale",
             "static_configs": [{"targets": [f"127.0.0.1:{inv.metrics_port}"]}]},
        ],
    }


def _annotations(inv: Inventory) -> dict[str, dict[str, str]]:
    return {
        "OverlayPeerRelayedThroughDerp": {
            "summary": "{{ $labels.instance }} reaches {{ $labels.peer }} only through DERP for "
                       f"more than {inv.derp_alert_after}",
            "description": "a direct or peer-relay path is expected: check the campus firewall "
                           "(UDP 41641, STUN 3478) and the peer relay"},
        "OverlayPeerOffline": {
            "summary": "{{ $labels.peer }} is offline as seen from {{ $labels.instance }}"},
        "OverlayPeerRttHigh": {
            "summary": "RTT from {{ $labels.instance }} to {{ $labels.peer }} is "
                       "{{ $value | humanizeDuration }}"},
        "OverlayExporterStale": {
            "summary": "no fresh overlay metrics from {{ $labels.instance }}"},
    }


def alert_rules(inv: Inventory) -> dict[str, Any]:
    notes = _annotations(inv)
    return {"groups": [{"name": "overlay", "rules": [
        {"alert": "OverlayPeerRelayedThroughDerp",
         "expr": 'overlay_peer_state{state="derp"} == 1', "for": inv.derp_alert_after,
         "labels": {"severity": "warning"}, "annotations": notes["OverlayPeerRelayedThroughDerp"]},
        {"alert": "OverlayPeerOffline",
         "expr": 'overlay_peer_state{state="offline"} == 1', "for": inv.offline_alert_after,
         "labels": {"severity": "critical"}, "annotations": notes["OverlayPeerOffline"]},
        {"alert": "OverlayPeerRttHigh",
         "expr": f"overlay_peer_rtt_seconds > {inv.rtt_alert_ms / 1000:g}", "for": RTT_FOR,
         "labels": {"severity": "warning"}, "annotations": notes["OverlayPeerRttHigh"]},
        {"alert": "OverlayExporterStale",
         "expr": 'up{job=~"overlay_.*"} == 0 or overlay_backend_up == 0', "for": STALE_FOR,
         "labels": {"severity": "warning"}, "annotations": notes["OverlayExporterStale"]},
    ]}]}


def rule_tests(inv: Inventory) -> dict[str, Any]:
    """promtool unit tests: each alert fires one evaluation after its ``for``, not one before.
    Series start at 0 (DERP, RTT) or after 3 intervals (offline, the scrape going down)."""
    step = TEST_INTERVAL_S
    peer = {"instance": "r1:9101", "job": "overlay_robots", "peer": "r2", "ip": "100.64.0.2"}
    labels = ",".join(f'{k}="{v}"' for k, v in peer.items())
    notes = _annotations(inv)
    derp_s, offline_s = seconds(inv.derp_alert_after), seconds(inv.offline_alert_after)
    rtt_s, stale_s = seconds(RTT_FOR), seconds(STALE_FOR)
    length = max(derp_s, offline_s, rtt_s, stale_s) // step + 10

    def expect(at_s: int, alert: str, extra: dict[str, str] | None,
               annotations: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"eval_time": f"{at_s}s", "alertname": alert, "exp_alerts": []}
        if extra is not None:
            body["exp_alerts"] = [{"exp_labels": extra, "exp_annotations": annotations}]
        return body

    def fired(at_s: int, alert: str, extra: dict[str, str],
              summary: str) -> list[dict[str, Any]]:
        return [expect(at_s - step, alert, None, {}),
                expect(at_s + step, alert, extra, {**notes[alert], "summary": summary})]

    late = 3 * step
    rtt_value = round(inv.rtt_alert_ms / 1000 * 1.8, 3)  # above the threshold, under 1 s
    return {"rule_files": [RULES_FILE], "evaluation_interval": f"{step}s", "tests": [
        {"interval": f"{step}s",
         "input_series": [
             {"series": f'overlay_peer_state{{{labels},state="derp"}}', "values": f"1x{length}"},
             {"series": f'overlay_peer_state{{{labels},state="offline"}}',
              "values": f"0x2 1x{length}"},
             {"series": f"overlay_peer_rtt_seconds{{{labels}}}", "values": f"{rtt_value:g}x{length}"},
             {"series": 'up{instance="r3:9101",job="overlay_robots"}',
              "values": f"1x2 0x{length}"},
         ],
         "alert_rule_test": [
             *fired(derp_s, "OverlayPeerRelayedThroughDerp",
                    {**peer, "state": "derp", "severity": "warning"},
                    f"r1:9101 reaches r2 only through DERP for more than {inv.derp_alert_after}"),
             *fired(late + offline_s, "OverlayPeerOffline",
                    {**peer, "state": "offline", "severity": "critical"},
                    "r2 is offline as seen from r1:9101"),
             *fired(rtt_s, "OverlayPeerRttHigh", {**peer, "severity": "warning"},
                    f"RTT from r1:9101 to r2 is {_humanized(rtt_value)}"),
             *fired(late + stale_s, "OverlayExporterStale",
                    {"instance": "r3:9101", "job": "overlay_robots", "severity": "warning"},
                    "no fresh overlay metrics from r3:9101"),
         ]}]}


def file_sd_targets(nodes: list[HeadscaleNode], port: int = METRICS_PORT,
                    skip_tags: tuple[str, ...] = ("tag:monitoring",)) -> list[dict[str, Any]]:
    """File-based service discovery from Headscale's node list: each member's first IPv4,
    labelled with its name and team (its tag without ``tag:``; people: ``user``). Nodes with a
    tag of ``skip_tags`` (the Prometheus host itself) are not targets."""
    groups = []
    for node in sorted(nodes, key=lambda n: n.name):
        ipv4 = next((ip for ip in node.ip_addresses if ":" not in ip), "")
        if not ipv4 or set(node.tags) & set(skip_tags):
            continue
        team = ",".join(t.removeprefix("tag:") for t in node.tags) or f"user:{node.user}"
        groups.append({"targets": [f"{ipv4}:{port}"], "labels": {
            "node": node.name, "team": team, "robot": robot_namespace(node.name).lstrip("/")}})
    return groups


HEADER = "# Generated by overlay-server from the fleet inventory; edit the inventory.\n"


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False)
