"""What every overlay-* command does around its work: parse, run, and turn an OverlayError
into one line on stderr and its exit code (130 on Ctrl-C). No tracebacks for expected errors."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .errors import OverlayError, exit_codes_help


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
