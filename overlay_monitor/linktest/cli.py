"""``overlay-linktest``: measure the overlay (and the plain network under it) and report."""
from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from ..backends import make_backend
from ..cli_support import add_backend_options, run_cli
from ..errors import OverlayError
from .dataset import DEFAULT_DATASET, LinkTestRecord, append_records, load_records
from .protocol import DEFAULT_PORT
from .report import write_report
from .run import LinkTestOptions, fmt, measure, overhead
from .server import LinkTestServer

EXAMPLES = f"""examples:
  overlay-linktest serve                                  # on the far end (TCP+UDP {DEFAULT_PORT})
  overlay-linktest run --target 100.64.0.2 --underlay 192.0.2.20 --location "library, 2nd floor"
  overlay-linktest report --dataset {DEFAULT_DATASET} --out report/
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-linktest", description=__doc__,
                                     epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="answer link tests (one at a time)")
    serve.add_argument("--bind", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    run = sub.add_parser("run", help="measure RTT, loss, jitter and throughput")
    run.add_argument("--target", required=True, help="the peer's overlay address or name")
    run.add_argument("--underlay", help="the same peer's plain-network address (compare)")
    run.add_argument("--location", default="", help="label stored with the results")
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--count", type=int, default=20, help="pings (1..1000)")
    run.add_argument("--interval", type=float, default=0.2, help="seconds between pings")
    run.add_argument("--duration", type=float, default=5.0, help="seconds per throughput test")
    run.add_argument("--streams", type=int, default=1, help="parallel TCP streams (1..16)")
    run.add_argument("--udp-bitrate", type=float, default=10e6, help="UDP target bit/s")
    run.add_argument("--tool", choices=("auto", "builtin", "iperf3"), default="auto",
                     help="iperf3 (needs 'iperf3 -s' on the target) or the built-in client")
    run.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    add_backend_options(run)
    run.add_argument("--json", action="store_true")
    report = sub.add_parser("report", help="plots and an HTML page from a dataset")
    report.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    report.add_argument("--out", type=Path, required=True)
    return parser


def connection_state(args: argparse.Namespace, target: str) -> str:
    """What the monitor's backend says about the target right now ("unknown" if unreadable)."""
    try:
        backend = make_backend(args.backend, args.socket, args.interface)
    except OverlayError:
        return "unknown"
    try:
        for peer in backend.snapshot().peers:
            names = {peer.hostname, peer.dns_name.rstrip("."), *peer.overlay_ips}
            if target in names:
                return peer.state.value
    except OverlayError:
        pass
    finally:
        backend.close()
    return "unknown"


def _print(record: LinkTestRecord) -> None:
    print(f"{record.path:8s} {record.target}: RTT {fmt(record.rtt_avg_ms, ' ms')} "
          f"(min {fmt(record.rtt_min_ms)}, max {fmt(record.rtt_max_ms)}, mdev "
          f"{fmt(record.rtt_mdev_ms)}; {record.rtt_tool}), loss {fmt(record.loss_percent, ' %', 1)}, "
          f"TCP {fmt(record.tcp_bps / 1e6, ' Mbit/s', 1)}, UDP {fmt(record.udp_bps / 1e6, ' Mbit/s', 1)} "
          f"jitter {fmt(record.udp_jitter_ms, ' ms', 3)} loss {fmt(record.udp_loss_percent, ' %', 2)} "
          f"[{record.throughput_tool}; link {record.connection_state}]")


def run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        server = LinkTestServer(args.bind, args.port).start()
        print(f"overlay-linktest: serving on {args.bind}:{server.port} (TCP control and data, "
              "UDP echo); Ctrl-C to stop", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            server.stop()
        return 0
    if args.command == "report":
        page = write_report(load_records(args.dataset), args.out)
        print(f"wrote {page} and its figures")
        return 0
    options = LinkTestOptions(port=args.port, count=args.count, interval_s=args.interval,
                              duration_s=args.duration, streams=args.streams,
                              udp_bitrate_bps=args.udp_bitrate, tool=args.tool,
                              location=args.location)
    records = [measure(args.target, "overlay", options, connection_state(args, args.target))]
    if args.underlay:
        records.append(measure(args.underlay, "underlay", options, "underlay"))
    append_records(args.dataset, records)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
    else:
        for record in records:
            _print(record)
        if args.underlay:
            result = overhead(records[1], records[0])
            print(f"overhead: throughput loss {fmt(result.throughput_loss_pct, ' %', 1)}, "
                  f"RTT increase {fmt(result.rtt_increase_pct, ' %', 1)} (percent log-change)")
        print(f"appended to {args.dataset}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
