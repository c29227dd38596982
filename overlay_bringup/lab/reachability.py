"""Check that every lab robot reaches every other over the overlay (ping inside namespaces)."""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from overlay_monitor.ping_stats import RttStats, parse_ping_output

from .runner import netns_exec_argv
from .state import LabState


@dataclass(frozen=True)
class PairResult:
    source: str
    target: str
    target_ip: str
    stats: RttStats


def ping_in_namespace(namespace: str, address: str, count: int = 3, interval_s: float = 0.2,
                      wait_s: float = 1.0) -> RttStats:
    argv = netns_exec_argv(namespace, ["ping", "-n", "-q", "-c", str(count), "-i",
                                       f"{interval_s:g}", "-W", f"{wait_s:g}", address])
    timeout = count * interval_s + wait_s + 5
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return parse_ping_output(proc.stdout)


def ping_matrix(state: LabState, count: int = 3) -> list[PairResult]:
    """Ping each robot's overlay address from every other robot, in parallel."""
    pairs = [(src, dst) for src in state.robots for dst in state.robots if src is not dst]
    with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
        stats = list(pool.map(lambda p: ping_in_namespace(p[0].namespace, p[1].overlay_ip,
                                                          count), pairs))
    return [PairResult(src.name, dst.name, dst.overlay_ip, s)
            for (src, dst), s in zip(pairs, stats, strict=True)]
