"""Prometheus for the fleet: a scrape config that reaches every robot's exporter over the
overlay (MagicDNS names from the inventory, plus file-based discovery that ``overlay-server
prometheus-targets`` refreshes from Headscale's node list), headscale's own metrics, alert
rules, and unit tests for those rules (``promtool test rules``). Pure: data in, YAML text out.
"""
from __future__ import annotations

from typing import Any

import yaml

from .headscale_api import HeadscaleNode
from .inventory import Inventory

METRICS_PORT = 9101
RULES_FILE = "overlay_rules.yml"
RULE_TESTS_FILE = "overlay_rules_test.yml"
TARGETS_FILE = "targets/overlay_nodes.json"
#: thresholds of the alerts (also in their annotations)
DERP_TOO_LONG = "10m"
OFFLINE_FOR = "2m"
RTT_ALERT_S = 0.5
STALE_FOR = "2m"


def robot_targets(inv: Inventory, port: int = METRICS_PORT) -> list[dict[str, Any]]:
    """One static target group per team: ``<robot>.<base_domain>:<port>``, labelled by team."""
    return [{"targets": [f"{robot}.{inv.base_domain}:{port}" for robot in team.robots],
             "labels": {"team": team.name}} for team in inv.teams]


def prometheus_config(inv: Inventory, port: int = METRICS_PORT) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s",
                   "external_labels": {"fleet": inv.base_domain}},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": "overlay_robots", "static_configs": robot_targets(inv, port)},
            {"job_name": "overlay_nodes",
             "file_sd_configs": [{"files": [TARGETS_FILE], "refresh_interval": "1m"}]},
            {"job_name": "headscale",
             "static_configs": [{"targets": [f"127.0.0.1:{inv.metrics_port}"]}]},
        ],
    }


def alert_rules() -> dict[str, Any]:
    return {"groups": [{"name": "overlay", "rules": [
        {"alert": "OverlayPeerRelayedThroughDerp",
         "expr": 'overlay_peer_state{state="derp"} == 1',
         "for": DERP_TOO_LONG, "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.instance }} reaches {{ $labels.peer }} only "
                                    f"through DERP for more than {DERP_TOO_LONG}",
                         "description": "a direct or peer-relay path is expected: check the "
                                        "campus firewall (UDP 41641, STUN 3478) and the peer "
                                        "relay"}},
        {"alert": "OverlayPeerOffline",
         "expr": 'overlay_peer_state{state="offline"} == 1',
         "for": OFFLINE_FOR, "labels": {"severity": "critical"},
         "annotations": {"summary": "{{ $labels.peer }} is offline as seen from "
                                    "{{ $labels.instance }}"}},
        {"alert": "OverlayPeerRttHigh",
         "expr": f"overlay_peer_rtt_seconds > {RTT_ALERT_S:g}",
         "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": "RTT from {{ $labels.instance }} to {{ $labels.peer }} is "
                                    "{{ $value | humanizeDuration }}"}},
        {"alert": "OverlayExporterStale",
         "expr": 'up{job=~"overlay_.*"} == 0 or overlay_backend_up == 0',
         "for": STALE_FOR, "labels": {"severity": "warning"},
         "annotations": {"summary": "no fresh overlay metrics from {{ $labels.instance }}"}},
    ]}]}


def rule_tests() -> dict[str, Any]:
    """promtool unit tests: each alert fires after its ``for`` and not before."""
    peer = {"instance": "r1:9101", "job": "overlay_robots", "peer": "r2", "ip": "100.64.0.2"}
    labels = ",".join(f'{k}="{v}"' for k, v in peer.items())
    derp = next(r for r in alert_rules()["groups"][0]["rules"]
                if r["alert"] == "OverlayPeerRelayedThroughDerp")["annotations"]

    def expect(eval_time: str, alert: str, extra: dict[str, str] | None,
               annotations: dict[str, str]) -> dict[str, Any]:
        if extra is None:
            return {"eval_time": eval_time, "alertname": alert, "exp_alerts": []}
        return {"eval_time": eval_time, "alertname": alert,
                "exp_alerts": [{"exp_labels": extra, "exp_annotations": annotations}]}

    return {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": [
        {"interval": "1m",
         "input_series": [
             {"series": f'overlay_peer_state{{{labels},state="derp"}}', "values": "1x20"},
             {"series": f'overlay_peer_state{{{labels},state="offline"}}',
              "values": "0x3 1x10"},
             {"series": f"overlay_peer_rtt_seconds{{{labels}}}", "values": "0.02x3 0.9x10"},
             {"series": 'up{instance="r3:9101",job="overlay_robots"}', "values": "1x3 0x10"},
         ],
         "alert_rule_test": [
             expect("9m", "OverlayPeerRelayedThroughDerp", None, {}),
             expect("11m", "OverlayPeerRelayedThroughDerp",
                    {**peer, "state": "derp", "severity": "warning"},
                    {"summary": f"r1:9101 reaches r2 only through DERP for more than "
                                f"{DERP_TOO_LONG}", "description": derp["description"]}),
             expect("4m", "OverlayPeerOffline", None, {}),
             expect("6m", "OverlayPeerOffline", {**peer, "state": "offline",
                                                 "severity": "critical"},
                    {"summary": "r2 is offline as seen from r1:9101"}),
             expect("8m", "OverlayPeerRttHigh", None, {}),
             expect("9m", "OverlayPeerRttHigh", {**peer, "severity": "warning"},
                    {"summary": "RTT from r1:9101 to r2 is 900ms"}),
             expect("6m", "OverlayExporterStale",
                    {"instance": "r3:9101", "job": "overlay_robots", "severity": "warning"},
                    {"summary": "no fresh overlay metrics from r3:9101"}),
         ]}]}


def file_sd_targets(nodes: list[HeadscaleNode], port: int = METRICS_PORT) -> list[dict[str, Any]]:
    """File-based service discovery from Headscale's node list: each node's first IPv4."""
    groups = []
    for node in sorted(nodes, key=lambda n: n.name):
        ipv4 = next((ip for ip in node.ip_addresses if ":" not in ip), "")
        if ipv4:
            groups.append({"targets": [f"{ipv4}:{port}"],
                           "labels": {"node": node.name, "tags": ",".join(node.tags)}})
    return groups


HEADER = "# Generated by overlay-server from the fleet inventory; edit the inventory.\n"


def render(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False)
