"""The lab's underlay: a router namespace and hosts (robots, the server, the peer relay, the
library's DERP) on their own /24 behind it.

A kind of host sits behind ``LabHosts``: it is made on a ``HostLink`` (its namespace and
addresses), runs commands, and is removed. ``NamespaceHosts`` is the fast default: each host is
a network namespace of this machine (its /etc files bind-mounted from /etc/netns/<name>/). A
host kind that boots a whole machine in the same namespace (systemd-nspawn) implements the same
same methods on the same links (``machines.MachineHosts``).
"""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from overlay_monitor.errors import CommandFailed
from overlay_monitor.files import write_atomic

from . import proc
from .proc import Binds

#: ``ip netns exec NS`` bind-mounts the files of /etc/netns/NS/ over /etc
NETNS_ETC_DIR = Path("/etc/netns")


@dataclass(frozen=True)
class HostLink:
    """A lab host on its own /24 behind the router: its namespace, the router's end of the veth
    pair, the router's address on that subnet and the host's."""

    namespace: str
    router_veth: str
    router_ip: str
    ip: str
    #: the host's files under /etc (hosts, resolv.conf, machine-id), by name
    etc: Mapping[str, str]
    #: a tc tbf rate limit on both ends of the link, kbit/s (0: none)
    rate_kbit: float = 0.0


class LabHosts(Protocol):
    """A kind of lab host."""

    def make(self, router_namespace: str, link: HostLink) -> None:
        """Create the host on ``link`` and connect it to the router."""

    def exec_argv(self, namespace: str, argv: list[str], binds: Binds = ()) -> list[str]:
        """argv that runs ``argv`` on the host, with ``binds`` mounted for that command."""

    def write_etc(self, namespace: str, files: Mapping[str, str]) -> None:
        """Replace some of the host's /etc files (e.g. hosts, once names are known)."""

    def readdress(self, router_namespace: str, link: HostLink, new_ip: str,
                  new_router_ip: str) -> None:
        """Give a running host another underlay address (and gateway), as a Wi-Fi hand-over
        does: the old address goes, the overlay keeps running."""

    def stop(self, prefix: str) -> list[str]:
        """Stop what this kind runs on a lab's hosts by itself (machines power off), before the
        lab stops their processes; what it stopped."""

    def remove(self, prefix: str) -> list[str]:
        """Remove what this kind left of a lab's hosts; what it removed."""


def make_router(namespace: str) -> None:
    proc.run(["ip", "netns", "add", namespace])
    proc.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
    proc.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def load_ruleset(router_namespace: str, ruleset: str) -> None:
    """Load nftables rules (a whole ruleset, or commands) in the router."""
    proc.run(["ip", "netns", "exec", router_namespace, "nft", "-f", "-"], stdin=ruleset)


class NamespaceHosts:
    """Hosts that are network namespaces of this machine."""

    def make(self, router_namespace: str, link: HostLink) -> None:
        ns, rt = link.namespace, router_namespace
        self.write_etc(ns, link.etc)
        proc.run(["ip", "netns", "add", ns])
        proc.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        proc.run(["ip", "-n", rt, "link", "add", link.router_veth, "type", "veth", "peer",
                  "name", "eth0", "netns", ns])
        proc.run(["ip", "-n", rt, "address", "add", f"{link.router_ip}/24", "dev",
                  link.router_veth])
        proc.run(["ip", "-n", rt, "link", "set", link.router_veth, "up"])
        proc.run(["ip", "-n", ns, "address", "add", f"{link.ip}/24", "dev", "eth0"])
        proc.run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        proc.run(["ip", "-n", ns, "route", "add", "default", "via", link.router_ip])
        if link.rate_kbit:
            for where, dev in ((rt, link.router_veth), (ns, "eth0")):
                proc.run(["ip", "netns", "exec", where, "tc", "qdisc", "replace", "dev", dev,
                          "root", "tbf", "rate", f"{link.rate_kbit:g}kbit", "burst", "32kbit",
                          "latency", "400ms"])

    def exec_argv(self, namespace: str, argv: list[str], binds: Binds = ()) -> list[str]:
        return proc.in_namespace(namespace, argv, binds)

    def readdress(self, router_namespace: str, link: HostLink, new_ip: str,
                  new_router_ip: str) -> None:
        ns = link.namespace
        if new_router_ip != link.router_ip:  # another subnet: the router serves it too
            proc.run_result(["ip", "-n", router_namespace, "address", "add",
                             f"{new_router_ip}/24", "dev", link.router_veth])
        proc.run(["ip", "-n", ns, "address", "add", f"{new_ip}/24", "dev", "eth0"])
        proc.run(["ip", "-n", ns, "address", "del", f"{link.ip}/24", "dev", "eth0"])
        proc.run(["ip", "-n", ns, "route", "replace", "default", "via", new_router_ip])

    def write_etc(self, namespace: str, files: Mapping[str, str]) -> None:
        etc = NETNS_ETC_DIR / namespace
        etc.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            write_atomic(etc / name, text)

    def stop(self, prefix: str) -> list[str]:
        return []  # a namespace runs only what the lab started in it

    def remove(self, prefix: str) -> list[str]:
        removed = []
        for ns in proc.list_namespaces():
            if ns.startswith(f"{prefix}-"):
                try:
                    proc.run(["ip", "netns", "del", ns])
                    removed.append(f"namespace {ns}")
                except CommandFailed:
                    pass
        for etc in NETNS_ETC_DIR.glob(f"{prefix}-*"):
            shutil.rmtree(etc, ignore_errors=True)
        return removed


#: the lab's host kind
HOSTS: LabHosts = NamespaceHosts()
