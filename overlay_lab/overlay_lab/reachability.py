"""Check that every lab robot reaches every other over the overlay (ping inside namespaces)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from overlay_monitor.errors import LabError
from overlay_monitor.ping_stats import RttStats, icmp_rtt

from .network import HOSTS
from .state import LabState


@dataclass(frozen=True)
class PairResult:
    source: str
    target: str
    target_ip: str
    stats: RttStats


def ping_in_namespace(namespace: str, address: str, count: int = 3, interval_s: float = 0.2,
                      wait_s: float = 1.0) -> RttStats:
    result = icmp_rtt(address, count, interval_s, wait_s, prefix=HOSTS.exec_argv(namespace, []))
    if result is None:
        raise LabError("ping (iputils-ping) is missing or not permitted on this machine")
    return result[0]


def ping_matrix(state: LabState, count: int = 3) -> list[PairResult]:
    """Ping each robot's overlay address from every other robot, in parallel."""
    pairs = [(src, dst) for src in state.robots for dst in state.robots if src is not dst]
    with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
        stats = list(pool.map(lambda p: ping_in_namespace(p[0].namespace, p[1].overlay_ip,
                                                          count), pairs))
    return [PairResult(src.name, dst.name, dst.overlay_ip, s)
            for (src, dst), s in zip(pairs, stats, strict=True)]
