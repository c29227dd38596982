"""The link-test dataset: one JSON object per line (JSONL), appended, never rewritten.

A record: timestamp, location label, target, path (overlay | underlay), the connection state the
monitor reported at the time, every metric (unknown = null), tool and versions, and optionally
the ROS 2 message tests run on the same path (``ros_messages``: one dict per message size with
size_bytes, rate_hz, sent, received, latency_ms_median, latency_ms_p95).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import read_input

FIELDS_REQUIRED = ("timestamp", "location", "target", "path")
#: a dataset grows by a few kB per link test: 1 GiB is far past any real campaign
MAX_DATASET_BYTES = 1024 * 1024 * 1024
#: where link tests append their records unless told otherwise
DEFAULT_DATASET = Path.home() / ".ros" / "overlay_bringup" / "linktest.jsonl"


@dataclass
class LinkTestRecord:
    timestamp: str
    location: str
    target: str
    path: str                       # "overlay" or "underlay"
    connection_state: str = "unknown"
    rtt_tool: str = ""
    rtt_min_ms: float = math.nan
    rtt_avg_ms: float = math.nan
    rtt_max_ms: float = math.nan
    rtt_mdev_ms: float = math.nan
    rtt_samples_ms: list[float] = field(default_factory=list)
    loss_percent: float = math.nan
    throughput_tool: str = ""
    tcp_bps: float = math.nan
    tcp_intervals_bps: list[float] = field(default_factory=list)
    udp_bps: float = math.nan
    udp_jitter_ms: float = math.nan
    udp_loss_percent: float = math.nan
    duration_s: float = math.nan
    versions: dict[str, str] = field(default_factory=dict)
    ros_messages: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        return {key: clean(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: str) -> "LinkTestRecord":
        missing = [f for f in FIELDS_REQUIRED if f not in raw]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__}
        values: dict[str, Any] = {k: (math.nan if v is None else v)
                                  for k, v in raw.items() if k in known}
        if values.get("path") not in ("overlay", "underlay"):
            raise InputError(f"{where}: path {values.get('path')!r} is not overlay or underlay")
        return cls(**values)


def append_records(path: Path, records: list[LinkTestRecord]) -> None:
    """Append whole lines in one write (O_APPEND), so readers never see half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r.to_json()) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_records(path: Path) -> list[LinkTestRecord]:
    lines = read_input(path, "a link-test dataset (JSON lines)", max_bytes=MAX_DATASET_BYTES,
                       allow_empty=True).splitlines()
    records, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise InputError("not a JSON object")
            records.append(LinkTestRecord.from_json(raw, f"{path}:{number}"))
        except RecursionError:
            errors.append(f"{path}:{number}: nested too deeply")
        except (ValueError, TypeError, InputError) as err:
            errors.append(f"{path}:{number}: {err}" if not str(err).startswith(str(path)) else str(err))
    if errors:
        raise InputError(f"{path}: {len(errors)} bad line(s) in the dataset:\n  " + "\n  ".join(errors))
    return records
