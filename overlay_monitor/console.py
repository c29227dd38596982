"""A rich Console that never truncates tables when the output is piped or captured."""
from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 160


def make_console(file=None) -> Console:  # type: ignore[no-untyped-def]
    stream = file or sys.stdout
    return Console(file=stream, width=None if stream.isatty() else PIPED_WIDTH)
