"""Read a WireGuard interface with ``wg show IFACE dump`` (wireguard-tools).

``wg`` talks to the interface's control socket in /var/run/wireguard, which every network
namespace shares, so this works for an interface in any namespace of the machine.
"""
from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone

from ..errors import BackendUnavailable
from ..models import OverlaySnapshot
from ..wireguard_dump import WireGuardDump, parse_wg_dump, snapshot_from_dump

DEFAULT_TIMEOUT_S = 2.0


def read_wg_dump(interface: str, wg_binary: str = "wg",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> WireGuardDump:
    if shutil.which(wg_binary) is None:
        raise BackendUnavailable(f"'{wg_binary}' not found on PATH: install wireguard-tools")
    try:
        proc = subprocess.run([wg_binary, "show", interface, "dump"], capture_output=True,
                              text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise BackendUnavailable(f"'wg show {interface} dump' did not answer within "
                                 f"{timeout_s:g} s") from err
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        raise BackendUnavailable(f"cannot read WireGuard interface {interface!r}: {reason}")
    return parse_wg_dump(proc.stdout, interface)


def read_wireguard_snapshot(interface: str, names: dict[str, str] | None = None,
                            wg_binary: str = "wg") -> OverlaySnapshot:
    dump = read_wg_dump(interface, wg_binary)
    return snapshot_from_dump(dump, datetime.now(timezone.utc), names)
