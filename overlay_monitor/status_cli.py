"""``overlay-status``: the overlay's link health once, from the live backend or a saved dump."""
from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from .backends import make_backend
from .backends.base import OverlayBackend
from .cli_support import add_backend_options, run_cli
from .console import make_console
from .errors import InputError
from .export import snapshot_to_json
from .files import read_input
from .health import HealthThresholds, doctor_report, snapshot_checks
from .models import LinkState, OverlaySnapshot
from .table import render_table
from .tailscale_status import snapshot_from_status

EXAMPLES = """examples:
  overlay-status                                   # tailscaled on this machine
  overlay-status --ping                            # with one disco ping per peer
  overlay-status --ping --report                   # a check per peer, as 'ros2 doctor' reports
  overlay-status --backend wireguard --interface wg0
  overlay-status --from-file status.json --json    # a saved 'tailscale status --json'
  overlay-status --watch                           # live table (Ctrl-C to stop)
  overlay-status --watch --from-topic              # every robot's monitor, a table each
  overlay-status --watch --from-topic --robot r2   # only r2's (/r2/overlay_monitor/status)
  overlay-status --prometheus > /var/lib/node_exporter/textfile/overlay.prom
  overlay-status --bridge /run/overlay/discovery/zenoh_bridge.json5   # the zenoh bridge's checks
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-status", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_backend_options(parser)
    parser.add_argument("--from-file", metavar="STATUS.json", type=Path,
                        help="read the output of 'tailscale status --json' instead of the backend")
    parser.add_argument("--ping", action="store_true",
                        help="measure each reachable peer's RTT once (disco ping / ICMP echo)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--report", action="store_true",
                        help="a check per peer and for this client, worst first, as 'ros2 doctor' "
                             "reports (exit 1 when one is ERROR)")
    parser.add_argument("--prometheus", action="store_true",
                        help="Prometheus text exposition, once (e.g. for node_exporter's "
                             "textfile collector)")
    parser.add_argument("--watch", action="store_true",
                        help="redraw the table live (colour on a terminal, plain when piped)")
    parser.add_argument("--from-topic", metavar="TOPIC", nargs="?", const="",
                        help="with --watch: read the monitor nodes' status topics instead of the "
                             "backend: every robot's (/<robot>/overlay_monitor/status), or TOPIC")
    parser.add_argument("--robot", default="",
                        help="with --from-topic: only this robot's monitor (its namespace)")
    parser.add_argument("--bridge", metavar="CONFIG", type=Path,
                        help="report this robot's zenoh bridge instead (discovery mode "
                             "zenoh-bridge; CONFIG is the zenoh_bridge.json5 overlay-discovery "
                             "wrote): a check for the bridge and one per route, worst first "
                             "(exit 1 when one is ERROR); --json gives the admin-space replies, "
                             "--prometheus the bridge's metrics")
    parser.add_argument("--interval", type=float, default=1.0, help="--watch: seconds per update")
    parser.add_argument("--count", type=int, default=0,
                        help="--watch: stop after this many updates (0 = until Ctrl-C)")
    return parser


def load_status_file(path: Path) -> OverlaySnapshot:
    data = read_input(path, "a saved 'tailscale status --json'")
    try:
        return snapshot_from_status(data)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def measure_rtts(backend: OverlayBackend, snapshot: OverlaySnapshot) -> None:
    reachable = [p for p in snapshot.peers if p.state is not LinkState.OFFLINE and p.overlay_ips]
    if not reachable:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(reachable))) as pool:
        for peer, rtt in zip(reachable, pool.map(backend.probe_rtt_ms, reachable), strict=True):
            peer.rtt_ms = rtt if rtt is not None else math.nan


def report_bridge(args: argparse.Namespace) -> int:
    from .backends.zenoh_admin import ZenohAdmin
    from .bridge import bridge_checks, bridge_target

    target = bridge_target(read_input(args.bridge, "the zenoh bridge's configuration"),
                           str(args.bridge))
    admin = ZenohAdmin(target)
    try:
        if args.json:
            zid, replies = admin.checked_replies()
            print(json.dumps({"zid": zid, "replies": {k: json.loads(v) for k, v in
                                                      sorted(replies.items())}}, indent=2))
            return 0
        status = admin.status()
    finally:
        admin.close()
    if args.prometheus:
        from .metrics import bridge_exposition

        print(bridge_exposition(status), end="")
        return 0
    text, passed = doctor_report(bridge_checks(status, target))
    print(text)
    return 0 if passed else 1


def run(args: argparse.Namespace) -> int:
    if args.bridge is not None:
        return report_bridge(args)
    if args.watch:
        from .watch import snapshots_from_backend, watch

        if not 0.1 <= args.interval <= 3600:
            raise InputError(f"--interval {args.interval:g} is out of range (0.1..3600 s)")
        if args.from_topic is not None:
            from .nodes.status_topic import snapshots_from_topic, snapshots_from_topics

            if args.from_topic:
                watch(snapshots_from_topic(args.from_topic, args.interval), make_console(),
                      args.count)
            else:
                watch(snapshots_from_topics(None, args.interval, robot=args.robot),
                      make_console(), args.count)
        else:
            backend = make_backend(args.backend, args.socket, args.interface)
            watch(snapshots_from_backend(backend, args.interval), make_console(), args.count)
        return 0
    if args.from_file is not None:
        snapshot = load_status_file(args.from_file)
    else:
        backend = make_backend(args.backend, args.socket, args.interface)
        try:
            snapshot = backend.snapshot()
            if args.ping:
                measure_rtts(backend, snapshot)
        finally:
            backend.close()
    if args.prometheus:
        from .metrics import exposition

        print(exposition(snapshot), end="")
    elif args.json:
        print(json.dumps(snapshot_to_json(snapshot), indent=2))
    elif args.report:
        text, passed = doctor_report(snapshot_checks(snapshot, HealthThresholds()))
        print(text)
        return 0 if passed else 1
    else:
        render_table(snapshot, datetime.now(timezone.utc), make_console())
        if snapshot.health:
            print("health: " + "; ".join(snapshot.health))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
