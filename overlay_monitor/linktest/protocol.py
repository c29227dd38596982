"""The link-test server's control protocol: one JSON object per line over TCP. Pure.

Requests: {"test": "tcp", "duration_s": D, "streams": N}
          {"test": "udp", "duration_s": D, "bitrate_bps": B, "size": S}
Answers:  {"port": P} (where to send the data), then, after the test, the server's
          measurement; or {"error": "..."} (busy, bad request).
UDP datagrams of a test start with a header: sequence number (uint64) and send time (float64).
"""
from __future__ import annotations

import json
import struct
from typing import Any

from ..errors import InputError

DEFAULT_PORT = 5301
MAX_DURATION_S = 60.0
MAX_STREAMS = 16
MAX_BITRATE_BPS = 10_000_000_000
UDP_HEADER = struct.Struct("!Qd")
MIN_UDP_SIZE, MAX_UDP_SIZE = UDP_HEADER.size, 65_000


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as err:
        raise InputError(f"link-test message is not JSON: {err}") from None
    if not isinstance(message, dict):
        raise InputError("link-test message is not a JSON object")
    return message


def validate_request(message: dict[str, Any]) -> dict[str, Any]:
    """The request with defaults filled in; InputError naming the bad field otherwise."""
    test = message.get("test")
    if test not in ("tcp", "udp"):
        raise InputError(f"test {test!r} is not tcp or udp")
    duration = message.get("duration_s", 5.0)
    if not isinstance(duration, (int, float)) or not 0.2 <= duration <= MAX_DURATION_S:
        raise InputError(f"duration_s {duration!r} is out of range (0.2..{MAX_DURATION_S:g})")
    request: dict[str, Any] = {"test": test, "duration_s": float(duration)}
    if test == "tcp":
        streams = message.get("streams", 1)
        if not isinstance(streams, int) or not 1 <= streams <= MAX_STREAMS:
            raise InputError(f"streams {streams!r} is out of range (1..{MAX_STREAMS})")
        request["streams"] = streams
    else:
        bitrate = message.get("bitrate_bps", 10_000_000)
        size = message.get("size", 1200)
        if not isinstance(bitrate, (int, float)) or not 1_000 <= bitrate <= MAX_BITRATE_BPS:
            raise InputError(f"bitrate_bps {bitrate!r} is out of range (1000..{MAX_BITRATE_BPS})")
        if not isinstance(size, int) or not MIN_UDP_SIZE <= size <= MAX_UDP_SIZE:
            raise InputError(f"size {size!r} is out of range ({MIN_UDP_SIZE}..{MAX_UDP_SIZE})")
        request["bitrate_bps"] = float(bitrate)
        request["size"] = size
    return request
