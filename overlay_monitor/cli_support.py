"""What every overlay-* command does around its work: parse, run, and turn an OverlayError
into one line on stderr and its exit code (130 on Ctrl-C). No tracebacks for expected errors."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .backends import BACKENDS
from .backends.base import DEFAULT_SOCKET
from .errors import OverlayError, exit_codes_help


def add_backend_options(parser: argparse.ArgumentParser, interface_default: str = "") -> None:
    """``--backend``, ``--socket`` and ``--interface``: where a command reads the overlay."""
    parser.add_argument("--backend", choices=BACKENDS, default="tailscale",
                        help="what to read the overlay from: tailscale (tailscaled's LocalAPI) or "
                             "wireguard (wg) (default tailscale)")
    parser.add_argument("--socket", default=DEFAULT_SOCKET,
                        help=f"tailscaled's LocalAPI socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--interface", default=interface_default,
                        help="the overlay interface (the WireGuard one for --backend wireguard)"
                             + (f" (default {interface_default})" if interface_default else ""))


def run_cli(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
            argv: list[str] | None = None) -> int:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = f"{parser.epilog.rstrip()}\n\n{exit_codes_help()}" if parser.epilog else \
        exit_codes_help()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except OverlayError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
