"""``overlay-server generate``: every file of a Headscale deployment from a fleet inventory.

``render_files`` is pure: the inventory in, the files (relative path -> content) out. The
write step ``write_deployment`` makes or keeps the TLS material, adds the CA to each bundle, and
writes each file only when its content changed (so a second run changes nothing and says so).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from overlay_monitor.errors import OverlayError
from overlay_monitor.files import write_atomic

from ..discovery.policy_file import POLICY_FILE
from . import dashboard, prometheus
from .ansible_inventory import INVENTORY_FILE, render_ansible_inventory
from .deployment import bundle_readme, derper_readme, systemd_unit
from .headscale_config import render_config, render_derp_map
from .inventory import Inventory
from .policy import build_policy, failing_tests, render_policy, render_policy_tests
from .tls import CertResult, ensure_ca, ensure_server_cert

#: written once: 'overlay-server prometheus-targets' replaces it with the live node list
SEED_ONLY = (f"prometheus/{prometheus.TARGETS_FILE}",)


def render_files(inv: Inventory, root: str = "") -> dict[str, str]:
    """Every generated text file of the deployment, by path relative to the output folder."""
    policy = build_policy(inv)
    failures = failing_tests(policy)
    if failures:
        raise OverlayError("the generated policy fails its own tests: " + "; ".join(failures))
    files = {"config.yaml": render_config(inv, root),
             "policy.hujson": render_policy(policy),
             "policy-tests.json": render_policy_tests(policy),
             "headscale.service": systemd_unit(inv, root)}
    if inv.extra_regions:
        files["derp.yaml"] = render_derp_map(inv)
    files.update({
        "prometheus/prometheus.yml": prometheus.render(prometheus.prometheus_config(inv)),
        f"prometheus/{prometheus.RULES_FILE}": prometheus.render(prometheus.alert_rules(inv)),
        f"prometheus/{prometheus.RULE_TESTS_FILE}": prometheus.render(prometheus.rule_tests(inv)),
        dashboard.DASHBOARD_FILE: dashboard.render_dashboard(),
        f"prometheus/{prometheus.TARGETS_FILE}":
            json.dumps(prometheus.robot_targets(inv), indent=2) + "\n",
        INVENTORY_FILE: render_ansible_inventory(inv),
    })
    for team in inv.enrolled:
        files[f"bundles/{team.name}/README.md"] = bundle_readme(inv, team)
    for team in inv.teams:
        if team.discovery == "zenoh-bridge":  # what its bridges carry (robot.launch.py reads it)
            files[f"bundles/{team.name}/{POLICY_FILE}"] = json.dumps(team.bridge.to_json(),
                                                                     indent=2) + "\n"
    for region in inv.extra_regions:
        files[f"derp/{region.code}/README.md"] = derper_readme(inv, region)
    return files


def write_if_changed(path: Path, content: str | bytes) -> str:
    """Write when the content differs; say which."""
    data = content.encode() if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return f"kept {path} (unchanged)"
    write_atomic(path, data)
    return f"wrote {path}"


@dataclass
class GenerateReport:
    lines: list[str] = field(default_factory=list)
    #: (what, certificate) of every certificate made or kept
    certs: list[tuple[str, CertResult]] = field(default_factory=list)


def write_deployment(inv: Inventory, out: Path, rotate: bool = False,
                     root: str = "") -> GenerateReport:
    """Render and write the deployment into ``out``; certificates are reused while they fit
    unless ``rotate``."""
    files = render_files(inv, root)
    report = GenerateReport()
    for name, content in files.items():
        if name in SEED_ONLY and (out / name).exists():
            continue
        report.lines.append(write_if_changed(out / name, content))
    ca = ensure_ca(out / "tls", inv.fqdn, rotate)
    report.certs = [("CA certificate", ca),
                    ("server certificate",
                     ensure_server_cert(out / "tls", ca, inv.fqdn, inv.addresses, rotate))]
    for team in inv.enrolled:
        report.lines.append(write_if_changed(out / "bundles" / team.name / "ca.crt",
                                             ca.path.read_bytes()))
    for region in inv.extra_regions:  # each extra region's derper: its certificate
        report.certs.append((f"DERP certificate of {region.host}", ensure_server_cert(
            out / "derp" / region.code, ca, region.host, (), rotate, name=region.host)))
    return report
