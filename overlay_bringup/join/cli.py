"""``overlay-join``: join this machine to the fleet's overlay with ``tailscale up``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.cli_support import run_cli

from .plan import JoinRequest
from .proxy import DEFAULT_ENV_FILE, DEFAULT_RESTART
from .runner import (
    ProxySetting,
    default_result_path,
    ensure_guard_route,
    install_ca,
    join,
    write_result,
)

EXAMPLES = """examples:
  sudo overlay-join --login-server https://headscale.lab.example.edu \\
      --auth-key-file /etc/overlay_bringup/auth.key --hostname robot1 --tags tag:team-a \\
      --ca-file /etc/overlay_bringup/ca.crt --install-ca
  sudo overlay-join ... --proxy http://proxy.campus.example:3128   # a web-proxy-only campus
The key file must be readable by its owner only (chmod 600); the key never appears on a
command line: tailscale reads it with --auth-key file:PATH.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-join", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--login-server", required=True, help="https://… of the Headscale server")
    parser.add_argument("--auth-key-file", required=True, help="pre-auth key file (0600)")
    parser.add_argument("--hostname", required=True, help="this machine's name in the overlay")
    parser.add_argument("--tags", default="", help="comma-separated, e.g. tag:team-a")
    parser.add_argument("--accept-dns", choices=("true", "false"), default="true",
                        help="use MagicDNS (default true)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (5..600)")
    parser.add_argument("--ca-file", help="the fleet CA certificate (to check the server)")
    parser.add_argument("--install-ca", action="store_true",
                        help="also add --ca-file to the system trust store (tailscaled uses it)")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="tailscaled's LocalAPI socket")
    parser.add_argument("--tailscale", default="tailscale", help="the tailscale CLI")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the result (default {default_result_path()})")
    parser.add_argument("--relay-server-port", type=int, default=0, metavar="PORT",
                        help="after joining, serve as a peer relay on this UDP port (1024..65535; "
                             "the relay's bundle names it; Tailscale >= 1.86)")
    parser.add_argument("--operator", default="", metavar="USER",
                        help="make USER tailscaled's operator (the ROS user: it may then run "
                             "tailscale up/set, and robot.launch.py, without sudo)")
    parser.add_argument("--proxy", default=None, metavar="URL",
                        help="reach the server through this web proxy (http://HOST:PORT; 'none' "
                             "removes it; 'file': the one --proxy-env-file names, for a URL "
                             "with a password): checks a CONNECT through it, writes HTTPS_PROXY "
                             "to --proxy-env-file and restarts tailscaled when its environment "
                             "differs")
    parser.add_argument("--proxy-env-file", default=DEFAULT_ENV_FILE, metavar="PATH",
                        help=f"tailscaled's environment file (default {DEFAULT_ENV_FILE})")
    parser.add_argument("--restart-command", default=DEFAULT_RESTART, metavar="CMD",
                        help=f"how tailscaled is restarted to read it (default "
                             f"'{DEFAULT_RESTART}')")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-guard-route", action="store_true",
                        help="do not install the guard route 'unreachable 100.64.0.0/10 metric "
                             "4000' (it keeps overlay traffic off the campus network in clear "
                             "text when tailscaled stops)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.install_ca:
        if not args.ca_file:
            print("overlay-join: error: --install-ca needs --ca-file", file=sys.stderr)
            return 2
        print(f"installed the fleet CA as {install_ca(args.ca_file)}")
    request = JoinRequest(login_server=args.login_server, auth_key_file=args.auth_key_file,
                          hostname=args.hostname,
                          tags=tuple(t.strip() for t in args.tags.split(",") if t.strip()),
                          accept_dns=args.accept_dns == "true", timeout_s=args.timeout,
                          relay_server_port=args.relay_server_port, operator=args.operator)
    proxy = (None if args.proxy is None else
             ProxySetting(args.proxy, args.proxy_env_file, args.restart_command))
    result = join(request, args.socket, args.tailscale, args.ca_file, proxy=proxy)
    result.guard_route = "not asked (--no-guard-route)" if args.no_guard_route \
        else ensure_guard_route()
    path = write_result(result, args.out or default_result_path())
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        me = result.snapshot.self_peer
        verb = "already joined" if result.action.value == "nothing" else "joined"
        print(f"{verb}: {me.hostname if me else args.hostname} "
              f"{', '.join(me.overlay_ips) if me else ''} ({me.dns_name if me else ''}); "
              f"{len(result.snapshot.peers)} peer(s); wrote {path}")
        print(result.guard_route)
        if result.proxy:
            print(result.proxy)
        if result.relay_server_port:
            print(f"serving as a peer relay on UDP port {result.relay_server_port}")
        if result.operator:
            print(f"{result.operator} is tailscaled's operator"
                  + (" (set now)" if result.operator_changed else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
