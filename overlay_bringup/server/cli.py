"""``overlay-server``: check a fleet inventory, generate a Headscale deployment, apply it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from overlay_monitor.cli_support import run_cli
from overlay_monitor.errors import InputError
from overlay_monitor.files import read_input

from . import prometheus
from .ansible_inventory import FLEET_COPY
from .apply import apply_inventory, rotate_keys
from .backup import restore_backup, write_backup
from .generate import write_deployment, write_if_changed
from .headscale_api import HeadscaleClient, read_api_key
from .headscale_config import HEADSCALE_VERSION, render_config
from .inventory import Inventory, InventoryError, load_inventory
from .policy import build_policy, failing_tests, render_policy
from .scale_advice import discovery_warning

EXAMPLES = """examples:
  overlay-server check --inventory config/fleet.example.yaml
  overlay-server generate --inventory fleet.yaml --out server/
  overlay-server apply --inventory fleet.yaml --url https://headscale.lab.example.edu \\
      --api-key-file ~/.config/headscale.key --ca-file server/tls/ca.crt --out server/
  overlay-server prometheus-targets --url https://headscale.lab.example.edu \\
      --api-key-file ~/.config/headscale.key --ca-file server/tls/ca.crt --out server/
  overlay-server fleet-report --prometheus http://127.0.0.1:9090 --out fleet-report/
  overlay-server status --url https://headscale.lab.example.edu --api-key-file api.key \\
      --ca-file server/tls/ca.crt
  overlay-server rotate-keys --inventory fleet.yaml --url https://headscale.lab.example.edu \\
      --api-key-file api.key --ca-file server/tls/ca.crt --out server/ --team team-a
  sudo overlay-server backup --config /etc/headscale/config.yaml --bundles server/bundles \\
      --out headscale-backup.tar.gz
  sudo overlay-server restore --backup headscale-backup.tar.gz --force   # headscale stopped
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-server", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate the inventory; print every problem")
    check.add_argument("--inventory", required=True, type=Path)
    gen = sub.add_parser("generate", help=f"write Headscale {HEADSCALE_VERSION} config, DERP map, "
                                          "certificates, policy, systemd unit and bundles")
    gen.add_argument("--inventory", required=True, type=Path)
    gen.add_argument("--out", required=True, type=Path, help="output folder")
    gen.add_argument("--root", default="",
                     help="prefix of the server's paths in config.yaml (/etc/headscale, "
                          "/var/lib/headscale, /var/run/headscale), e.g. for a lab or a test "
                          "server; default: none (the system paths)")
    gen.add_argument("--rotate-certs", action="store_true",
                     help="make a new CA and server certificate even if the old ones still fit")
    targets = sub.add_parser("prometheus-targets",
                             help="refresh Prometheus's file-based targets from Headscale's "
                                  "node list (OUT/prometheus/targets/overlay_nodes.json)")
    targets.add_argument("--out", required=True, type=Path, help="the folder 'generate' wrote")
    targets.add_argument("--port", type=int, default=prometheus.METRICS_PORT,
                         help=f"the exporters' port (default {prometheus.METRICS_PORT})")
    targets.add_argument("--skip-tag", action="append", default=None,
                         help="nodes with this tag are not targets (default: tag:monitoring, "
                              "the Prometheus host); repeatable")
    status = sub.add_parser("status", help="the fleet's nodes as Headscale sees them: online, "
                                           "last seen, tags, key expiry")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    report = sub.add_parser("fleet-report",
                            help="the fleet's link history from Prometheus, as PNG plots and "
                                 "an HTML page (for people without Grafana)")
    report.add_argument("--prometheus", required=True,
                        help="Prometheus's URL, e.g. http://127.0.0.1:9090")
    report.add_argument("--out", required=True, type=Path, help="report folder")
    report.add_argument("--hours", type=float, default=6.0, help="how far back (default 6)")
    app = sub.add_parser("apply", help="make a running Headscale match the inventory")
    rotate = sub.add_parser("rotate-keys", help="issue fresh enrolment keys into the bundles and "
                                                "expire the old ones (joined nodes keep working)")
    for verb in (app, rotate):
        verb.add_argument("--inventory", required=True, type=Path)
        verb.add_argument("--out", required=True, type=Path,
                          help="the folder 'generate' wrote (keys go into OUT/bundles/<team>/)")
    for verb in (targets, status, app, rotate):  # the verbs that talk to Headscale's REST API
        verb.add_argument("--url", required=True, help="Headscale server URL (https://…)")
        verb.add_argument("--api-key-file", required=True, type=Path,
                          help="file holding a Headscale API key (0600)")
        verb.add_argument("--ca-file", help="CA certificate to trust (e.g. OUT/tls/ca.crt)")
    rotate.add_argument("--team", action="append", default=[],
                        help="only this team (repeatable; default: every team, the monitoring "
                             "host and the relays)")
    backup = sub.add_parser("backup", help="on the server: database (consistent while headscale "
                                           "runs), private keys, TLS, policy and bundles in one "
                                           "0600 archive")
    backup.add_argument("--config", type=Path, default=Path("/etc/headscale/config.yaml"))
    backup.add_argument("--bundles", type=Path, help="the bundles folder to include (OUT/bundles)")
    backup.add_argument("--out", required=True, type=Path, help="the archive (.tar.gz) to write")
    restore = sub.add_parser("restore", help="on the server, headscale stopped: put a backup's "
                                             "files back where they were")
    restore.add_argument("--backup", required=True, type=Path)
    restore.add_argument("--force", action="store_true",
                         help="replace an existing database (headscale must be stopped)")
    return parser


def _check(inv: Inventory) -> list[str]:
    problems = [f"policy test fails: {f}" for f in failing_tests(build_policy(inv))]
    render_config(inv)  # raises when the generated config breaks Headscale's constraints
    return problems


def _generate(inv: Inventory, source: Path, out: Path, rotate: bool, root: str = "") -> None:
    report = write_deployment(inv, out, rotate, root)
    # the deployment carries its inventory: Ansible's headscale role runs 'apply' with it
    report.lines.append(write_if_changed(out / FLEET_COPY, read_input(source, "inventory")))
    for line in report.lines:
        print(line)
    for what, result in report.certs:
        verb = "kept" if result.reused else "made"
        print(f"{verb} {what} {result.path} (key {result.key_path}, 0600)\n"
              f"    SHA-256 {result.fingerprint}")
    print(f"open on the server: {inv.https_port}/tcp (HTTPS: control plane and DERP), "
          f"{inv.stun_port}/udp (STUN)")


def _client(args: argparse.Namespace) -> HeadscaleClient:
    """The REST client of a verb's --url, --api-key-file and --ca-file."""
    return HeadscaleClient(args.url, read_api_key(args.api_key_file), args.ca_file)


def _status(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from rich.table import Table

    from overlay_monitor.console import make_console

    from .fleet_status import COLUMNS, status_json, status_rows

    with _client(args) as client:
        nodes = client.list_nodes()
    if args.json:
        print(json.dumps(status_json(nodes), indent=2))
        return 0
    table = Table(title=f"{args.url}: {len(nodes)} node(s), "
                        f"{sum(n.online for n in nodes)} online", title_justify="left")
    for column in COLUMNS:
        table.add_column(column)
    for row in status_rows(nodes, datetime.now(timezone.utc)):
        table.add_row(*row)
    make_console().print(table)
    return 0


def _prometheus_targets(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is out of range (1..65535)")
    with _client(args) as client:
        nodes = client.list_nodes()
    groups = prometheus.file_sd_targets(nodes, args.port,
                                        tuple(args.skip_tag or ["tag:monitoring"]))
    print(write_if_changed(args.out / "prometheus" / prometheus.TARGETS_FILE,
                           json.dumps(groups, indent=2) + "\n") + f" ({len(groups)} node(s))")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "prometheus-targets":
        return _prometheus_targets(args)
    if args.command == "status":
        return _status(args)
    if args.command == "backup":
        members = write_backup(args.config, args.out, args.bundles)
        print(f"wrote {args.out} (0600): {', '.join(members)}")
        return 0
    if args.command == "restore":
        for path in restore_backup(args.backup, args.force):
            print(f"restored {path}")
        print("start headscale again (systemctl start headscale)")
        return 0
    if args.command == "fleet-report":
        from .fleet_report import write_fleet_report

        print(f"wrote {write_fleet_report(args.prometheus, args.out, args.hours)}")
        return 0
    try:
        inv = load_inventory(args.inventory)
    except InventoryError as err:
        print(f"overlay-server: {args.inventory}: {len(err.errors)} problem(s):", file=sys.stderr)
        for problem in err.errors:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.command == "check":
        problems = _check(inv)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if problems:
            return 1
        for team in inv.teams:  # measured figures: advice, not a problem
            advice = discovery_warning(team.name, team.discovery, len(team.robots))
            if advice:
                print(f"warning: {advice}", file=sys.stderr)
        print(f"{args.inventory}: OK ({len(inv.teams)} teams, "
              f"{sum(len(t.robots) for t in inv.teams)} robots, {len(inv.people)} people)")
        return 0
    if args.command == "generate":
        _generate(inv, Path(args.inventory), args.out, args.rotate_certs, args.root)
        return 0
    policy_text = render_policy(build_policy(inv))
    with _client(args) as client:
        if args.command == "rotate-keys":
            report = rotate_keys(inv, client, args.out / "bundles", tuple(args.team))
        else:
            report = apply_inventory(inv, client, policy_text, args.out / "bundles")
    for line in report.changes:
        print(f"changed: {line}")
    for line in report.kept:
        print(f"kept: {line}")
    for line in report.todo:
        print(f"to do: {line}")
    if not report.changed:
        print("nothing to change: the server matches the inventory")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
