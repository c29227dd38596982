"""Link-test client: RTT (ICMP, else UDP echo), TCP and UDP throughput (built-in, or iperf3's
``-J`` output when iperf3 is used). Every loop is bounded in count and time."""
from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendUnavailable, InputError
from ..ping_stats import RttStats, rtt_stats_from_samples
from .protocol import UDP_HEADER, decode, encode, validate_request

CONTROL_TIMEOUT_S = 10.0


@dataclass
class ThroughputResult:
    bps: float
    seconds: float
    tool: str
    jitter_ms: float = math.nan
    loss_percent: float = math.nan
    intervals_bps: list[float] = field(default_factory=list)


def udp_rtt(host: str, port: int, count: int, interval_s: float,
            timeout_s: float = 1.0) -> tuple[RttStats, list[float]]:
    """RTT against the link-test server's UDP echo."""
    rtts: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        for seq in range(count):
            sent = time.monotonic()
            sock.sendto(UDP_HEADER.pack(seq, time.time()), (host, port))
            deadline = sent + timeout_s
            while time.monotonic() < deadline:
                try:
                    data, _ = sock.recvfrom(2048)
                except TimeoutError:
                    break
                if len(data) >= UDP_HEADER.size and UDP_HEADER.unpack_from(data)[0] == seq:
                    rtts.append((time.monotonic() - sent) * 1000.0)
                    break
            time.sleep(max(0.0, interval_s - (time.monotonic() - sent)))
    return rtt_stats_from_samples(count, rtts), rtts


def _control(host: str, port: int, request: dict[str, Any]) -> tuple[socket.socket, int]:
    try:
        control = socket.create_connection((host, port), timeout=CONTROL_TIMEOUT_S)
    except OSError as err:
        raise BackendUnavailable(f"link-test server {host}:{port}: cannot connect ({err}); "
                                 "is 'overlay-linktest serve' running there?") from None
    control.sendall(encode(validate_request(request)))
    reply = decode(control.makefile("rb").readline(4096))
    if "error" in reply:
        control.close()
        raise BackendUnavailable(f"link-test server {host}:{port}: {reply['error']}")
    return control, int(reply["port"])


def _result(control: socket.socket, duration_s: float) -> dict[str, Any]:
    # the server answers at most GRACE (2 s) + its accept timeout (5 s) after the test's end
    control.settimeout(duration_s + CONTROL_TIMEOUT_S)
    reply = decode(control.makefile("rb").readline(65536))
    control.close()
    if "error" in reply:
        raise BackendUnavailable(f"link-test server: {reply['error']}")
    return reply


def tcp_throughput(host: str, port: int, duration_s: float, streams: int = 1) -> ThroughputResult:
    control, data_port = _control(host, port, {"test": "tcp", "duration_s": duration_s,
                                                "streams": streams})
    payload = b"\0" * (1 << 16)
    failures: list[str] = []

    def send() -> None:
        try:
            with socket.create_connection((host, data_port), timeout=CONTROL_TIMEOUT_S) as conn:
                end = time.monotonic() + duration_s
                while time.monotonic() < end:
                    conn.sendall(payload)
        except OSError as err:
            failures.append(f"{host}:{data_port}: {err}")

    threads = [threading.Thread(target=send) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + CONTROL_TIMEOUT_S)
    if failures and len(failures) == streams:
        control.close()
        raise BackendUnavailable(f"link-test data connection failed ({failures[0]}); the data "
                                 f"port (control port + 1) must be reachable too")
    reply = _result(control, duration_s)
    return ThroughputResult(bps=reply["bytes"] * 8 / reply["seconds"], seconds=reply["seconds"],
                            tool="builtin", intervals_bps=list(reply.get("intervals_bps", [])))


def udp_throughput(host: str, port: int, duration_s: float, bitrate_bps: float,
                   size: int = 1200) -> ThroughputResult:
    control, data_port = _control(host, port, {"test": "udp", "duration_s": duration_s,
                                                "bitrate_bps": bitrate_bps, "size": size})
    interval = size * 8 / bitrate_bps
    padding = b"\0" * (size - UDP_HEADER.size)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        while (now := time.monotonic()) - start < duration_s:
            due = start + sent * interval
            if now < due:
                time.sleep(min(due - now, 0.01))
                continue
            sock.sendto(UDP_HEADER.pack(sent, time.time()) + padding, (host, data_port))
            sent += 1
    control.sendall(encode({"sent": sent}))
    reply = _result(control, duration_s)
    return ThroughputResult(bps=reply["bytes"] * 8 / max(reply["seconds"], 1e-6),
                            seconds=reply["seconds"], tool="builtin",
                            jitter_ms=reply["jitter_ms"], loss_percent=reply["loss_percent"])


def parse_iperf3(report: dict[str, Any], udp: bool) -> ThroughputResult:
    """iperf3 ``-J`` output: the receiver's side for TCP, the server-reported sum for UDP."""
    if "error" in report:
        raise BackendUnavailable(f"iperf3: {report['error']}")
    try:
        end = report["end"]
        intervals = [i["sum"]["bits_per_second"] for i in report.get("intervals", [])]
        if udp:
            summary = end["sum"]
            return ThroughputResult(bps=summary["bits_per_second"], seconds=summary["seconds"],
                                    tool="iperf3", jitter_ms=summary["jitter_ms"],
                                    loss_percent=summary["lost_percent"], intervals_bps=intervals)
        received = end["sum_received"]
        return ThroughputResult(bps=received["bits_per_second"], seconds=received["seconds"],
                                tool="iperf3", intervals_bps=intervals)
    except (KeyError, TypeError) as err:
        raise InputError(f"iperf3 JSON has no {err} field") from None


def iperf3_throughput(host: str, duration_s: float, streams: int = 1, udp_bitrate: float = 0,
                      port: int = 5201) -> ThroughputResult:
    argv = ["iperf3", "-c", host, "-p", str(port), "-J", "-t", f"{duration_s:g}",
            "-P", str(streams)]
    if udp_bitrate:
        argv += ["-u", "-b", str(int(udp_bitrate))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30,
                          check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise BackendUnavailable(f"iperf3 to {host}:{port} failed: "
                                 f"{(proc.stderr or proc.stdout).strip()[:200]}") from None
    return parse_iperf3(report, bool(udp_bitrate))
