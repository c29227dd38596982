"""``overlay-discovery``: ROS discovery configuration for the overlay (no multicast there)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from overlay_monitor.backends import make_backend
from overlay_monitor.cli_support import add_backend_options, run_cli
from overlay_monitor.errors import InputError, OverlayError
from overlay_monitor.files import write_atomic

from .files import DEFAULT_DIR, write_config
from .live import peer_addresses, self_address
from .model import DEFAULT_PARTICIPANTS, DiscoveryRequest
from .modes import MODE_NAMES, generate, mode_spec
from .zenoh_bridge import BRIDGE_PORT, ROUTER_CONFIG_FILE, render_json5, router_config

EXAMPLES = f"""examples:
  overlay-discovery generate --mode fastdds-peers --out ~/.ros/overlay_bringup/discovery
  overlay-discovery generate --mode static-peers --self 100.64.0.1 --peers 100.64.0.2,100.64.0.3 --out /tmp/d
  overlay-discovery generate --mode fastdds-server --server 100.64.0.1:11811 --out /tmp/d
  overlay-discovery watch --mode fastdds-peers --interval 5
  overlay-discovery zenoh-router --port 7447 --out /etc/overlay_bringup/router   # a star's router
then:  set -a; . DIR/env; set +a; ros2 run …
default folder: {DEFAULT_DIR}
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-discovery", description=__doc__,
                                     epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("generate", "write the files and env for one mode"),
                            ("watch", "regenerate whenever the live peer list changes")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--mode", required=True, choices=MODE_NAMES)
        p.add_argument("--self", dest="self_ip", default="", help="own overlay address")
        p.add_argument("--peers", default=None,
                       help="comma-separated overlay addresses; default: the live peer list")
        p.add_argument("--server", default="",
                       help="fastdds-server: IP:PORT of the Discovery Server; ros1: master")
        p.add_argument("--mtu", type=int, default=1280, help="overlay MTU (default 1280)")
        p.add_argument("--domain-id", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", 0)))
        p.add_argument("--ros-distro", default=os.environ.get("ROS_DISTRO", "jazzy"))
        p.add_argument("--participants", type=int, default=DEFAULT_PARTICIPANTS,
                       help=f"fastdds-peers: ROS processes per member it finds (1..120, default "
                            f"{DEFAULT_PARTICIPANTS}; Fast DDS alone finds 4)")
        p.add_argument("--range", dest="discovery_range", default="LOCALHOST",
                       choices=("LOCALHOST", "SUBNET"), help="static-peers discovery range")
        add_backend_options(p, interface_default="tailscale0")
        p.add_argument("--out", type=Path, default=DEFAULT_DIR, help=f"folder (default {DEFAULT_DIR})")
        if name == "watch":
            p.add_argument("--interval", type=float, default=5.0, help="seconds between checks")
            p.add_argument("--count", type=int, default=0,
                           help="stop after this many checks (0 = run until interrupted)")
    router = sub.add_parser("zenoh-router", help="zenoh-bridge as a star: the configuration of "
                                                 "a team's router (run it with zenohd -c FILE)")
    router.add_argument("--self", dest="self_ip", default="",
                        help="the router host's overlay address (default: from the overlay)")
    router.add_argument("--port", type=int, default=BRIDGE_PORT,
                        help=f"TCP port, one per team (1024..65535, default {BRIDGE_PORT})")
    add_backend_options(router, interface_default="tailscale0")
    router.add_argument("--out", type=Path, default=DEFAULT_DIR, help=f"folder (default {DEFAULT_DIR})")
    return parser


def _router(args: argparse.Namespace) -> int:
    if not 1024 <= args.port <= 65535:
        raise InputError(f"port {args.port} is out of range (expected 1024..65535)")
    self_ip = args.self_ip
    if not self_ip:
        backend = make_backend(args.backend, args.socket, args.interface)
        try:
            self_ip = self_address(backend.snapshot())
        finally:
            backend.close()
        if not self_ip:
            raise InputError("this machine has no overlay address: join first, or pass --self")
    path = write_atomic(args.out / ROUTER_CONFIG_FILE,
                        render_json5(router_config(self_ip, args.port)))
    print(f"wrote {path}: run 'zenohd -c {path}' (listens on tcp/{self_ip}:{args.port}; "
          "one router per team, each on its own port)")
    return 0


def _request(args: argparse.Namespace) -> DiscoveryRequest:
    self_ip = args.self_ip
    peers: tuple[str, ...] = ()
    if args.peers is not None:
        peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    spec = mode_spec(args.mode)
    needs_live = args.peers is None and spec.needs_peers
    if needs_live or (not self_ip and spec.needs_self):
        backend = make_backend(args.backend, args.socket, args.interface)
        try:
            snapshot = backend.snapshot()
        finally:
            backend.close()
        if snapshot.backend_state != "Running":
            raise InputError(f"the {snapshot.backend} backend is {snapshot.backend_state}, not "
                             "Running: join the overlay first (overlay-join) or pass --peers")
        self_ip = self_ip or self_address(snapshot)
        if args.peers is None:
            peers = peer_addresses(snapshot)
    return DiscoveryRequest(mode=args.mode, self_ip=self_ip, peers=peers + ((self_ip,) if self_ip else ()),
                            interface=args.interface, mtu=args.mtu, domain_id=args.domain_id,
                            server=args.server, ros_distro=args.ros_distro,
                            discovery_range=args.discovery_range, participants=args.participants)


def _generate(args: argparse.Namespace) -> DiscoveryRequest:
    request = _request(args)
    config = generate(request)
    for path in write_config(config, args.out):
        print(f"wrote {path}")
    for note in config.notes:
        print(f"note: {note}")
    return request


def run(args: argparse.Namespace) -> int:
    if args.command == "zenoh-router":
        return _router(args)
    if args.command == "generate":
        _generate(args)
        return 0
    previous = _generate(args)
    checks = 1
    while args.count == 0 or checks < args.count:
        time.sleep(args.interval)
        checks += 1
        try:
            request = _request(args)
        except OverlayError as err:
            print(f"overlay-discovery: {err} (keeping the last configuration)", file=sys.stderr)
            continue
        if set(request.peers) != set(previous.peers) or request.self_ip != previous.self_ip:
            added = sorted(set(request.peers) - set(previous.peers))
            removed = sorted(set(previous.peers) - set(request.peers))
            config = generate(request)
            write_config(config, args.out)
            print(f"peers changed (+{', '.join(added) or '-'} / -{', '.join(removed) or '-'}): "
                  f"regenerated {args.out}", flush=True)
            if config.restart_needed_on_peer_change:
                print("restart running ROS processes to see the new peers", flush=True)
            previous = request
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
