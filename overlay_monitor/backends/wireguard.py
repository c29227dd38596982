"""Read a WireGuard interface with ``wg show IFACE dump`` (wireguard-tools).

``wg`` talks to the interface's control socket in /var/run/wireguard, which every network
namespace shares, so this works for an interface in any namespace of the machine.
"""
from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from datetime import datetime, timezone

import psutil

from ..errors import BackendUnavailable, InputError
from ..models import OverlaySnapshot, Peer
from ..ping_stats import icmp_rtt
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


def interface_addresses(interface: str) -> tuple[str, ...]:
    """The IPv4 and IPv6 addresses of ``interface`` in this network namespace (psutil),
    without link-local ones (fe80::/10: no peer can be reached at them)."""
    addrs = psutil.net_if_addrs().get(interface, [])
    found = (a.address.split("%")[0] for a in addrs
             if a.family in (socket.AF_INET, socket.AF_INET6))
    return tuple(a for a in found if not ipaddress.ip_address(a).is_link_local)


def read_wireguard_snapshot(interface: str, names: dict[str, str] | None = None,
                            wg_binary: str = "wg", self_name: str = "") -> OverlaySnapshot:
    """A snapshot of ``interface``: its peers from ``wg``, its own addresses from psutil."""
    dump = read_wg_dump(interface, wg_binary)
    return snapshot_from_dump(dump, datetime.now(timezone.utc), names,
                              interface_addresses(interface), self_name)


def names_from_hosts(text: str) -> dict[str, str]:
    """Map addresses to the first name given for them in an /etc/hosts text."""
    names: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            names.setdefault(fields[0], fields[1])
    return names


class WireGuardBackend:
    """A plain WireGuard interface as an overlay backend (wg-quick, Netbird, Netmaker, the lab).

    Peers are named from ``names`` or, failing that, from /etc/hosts entries for their overlay
    addresses; this member from its own addresses' entry, else the machine's hostname. RTT
    comes from one ICMP echo per probe.
    """

    name = "wireguard"
    #: WireGuard keeps showing a dead peer's last handshake for minutes; a failed probe is the
    #: first sign, so the monitor reports the peer offline as soon as its probe fails
    probe_decides_reachability = True

    def __init__(self, interface: str, names: dict[str, str] | None = None,
                 wg_binary: str = "wg", hosts_file: str = "/etc/hosts") -> None:
        self.interface = interface
        self.wg_binary = wg_binary
        self.names = dict(names or {})
        try:
            with open(hosts_file, encoding="utf-8") as handle:
                for address, hostname in names_from_hosts(handle.read()).items():
                    self.names.setdefault(address, hostname)
        except OSError:
            pass

    def snapshot(self) -> OverlaySnapshot:
        return read_wireguard_snapshot(self.interface, self.names, self.wg_binary,
                                       socket.gethostname())

    def probe_rtt_ms(self, peer: Peer, timeout_s: float = 2.0) -> float:
        if not peer.overlay_ips:
            return float("nan")
        try:
            result = icmp_rtt(peer.overlay_ips[0], 1, 0.2, max(1.0, timeout_s))
        except (subprocess.TimeoutExpired, InputError):
            return float("nan")
        return result[0].avg_ms if result is not None else float("nan")

    def close(self) -> None:
        """Nothing to release (one subprocess per call)."""
