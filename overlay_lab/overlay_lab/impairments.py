"""Parse per-robot underlay impairments such as ``r2:delay=40ms,loss=1%,rate=10mbit``.

Semantics (documented in the README, section "The lab"):
- ``delay``: one-way delay added on the robot's underlay link, in each direction, so the
  round trip to that robot grows by twice the value. Applied by the lab's delay forwarder (detour.py),
  because this kernel has no netem.
- ``loss``: percentage of packets dropped on the robot's link, each direction (nftables).
- ``rate``: bandwidth limit of the robot's link, each direction (tc tbf).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from overlay_monitor.errors import InputError

_DURATION = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|us)?$")
_PERCENT = re.compile(r"^(?P<num>\d+(?:\.\d+)?)%?$")
_RATE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>kbit|mbit|gbit)$", re.IGNORECASE)
_RATE_KBIT = {"kbit": 1.0, "mbit": 1000.0, "gbit": 1_000_000.0}
_DURATION_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, None: 1.0}

MAX_DELAY_MS = 10_000.0
EXAMPLE = "r2:delay=40ms,loss=1%,rate=10mbit"


@dataclass(frozen=True)
class Impairment:
    """What is done to one robot's underlay link. Zero means "not impaired"."""

    delay_ms: float = 0.0
    loss_percent: float = 0.0
    rate_kbit: float = 0.0

    @property
    def is_none(self) -> bool:
        return self.delay_ms == 0 and self.loss_percent == 0 and self.rate_kbit == 0

    def describe(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay={self.delay_ms:g}ms")
        if self.loss_percent:
            parts.append(f"loss={self.loss_percent:g}%")
        if self.rate_kbit:
            parts.append(f"rate={self.rate_kbit:g}kbit")
        return ",".join(parts) or "none"


def _parse_value(spec: str, key: str, value: str) -> float:
    if key == "delay":
        m = _DURATION.match(value)
        if not m:
            raise InputError(f"impairment {spec!r}: delay {value!r} is not a duration "
                             "(expected e.g. 40ms, 0.5s)")
        ms = float(m["num"]) * _DURATION_MS[m["unit"]]
        if ms > MAX_DELAY_MS:
            raise InputError(f"impairment {spec!r}: delay {value!r} is above {MAX_DELAY_MS:g} ms")
        return ms
    if key == "loss":
        m = _PERCENT.match(value)
        if not m or not 0 <= float(m["num"]) <= 100:
            raise InputError(f"impairment {spec!r}: loss {value!r} is not a percentage "
                             "between 0 and 100 (expected e.g. 1%)")
        return float(m["num"])
    if key == "rate":
        m = _RATE.match(value)
        if not m or float(m["num"]) <= 0:
            raise InputError(f"impairment {spec!r}: rate {value!r} is not a positive rate "
                             "(expected e.g. 500kbit, 10mbit, 1gbit)")
        return float(m["num"]) * _RATE_KBIT[m["unit"].lower()]
    raise InputError(f"impairment {spec!r}: unknown setting {key!r} "
                     "(expected delay, loss or rate)")


def parse_impairment(spec: str) -> tuple[str, Impairment]:
    """Parse ``ROBOT:key=value[,key=value…]`` into the robot name and its impairment."""
    robot, sep, settings = spec.partition(":")
    if not sep or not robot or not settings:
        raise InputError(f"impairment {spec!r} is not ROBOT:key=value[,…] (e.g. {EXAMPLE})")
    values: dict[str, float] = {}
    for item in settings.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq:
            raise InputError(f"impairment {spec!r}: {item!r} is not key=value (e.g. {EXAMPLE})")
        key = key.strip().lower()
        if key in values:
            raise InputError(f"impairment {spec!r}: {key} is given twice")
        values[key] = _parse_value(spec, key, value.strip())
    return robot.strip(), Impairment(delay_ms=values.get("delay", 0.0),
                                     loss_percent=values.get("loss", 0.0),
                                     rate_kbit=values.get("rate", 0.0))


def parse_impairments(specs: list[str]) -> dict[str, Impairment]:
    """Parse several ``--impair`` values; a robot named twice is an error."""
    result: dict[str, Impairment] = {}
    for spec in specs:
        robot, impairment = parse_impairment(spec)
        if robot in result:
            raise InputError(f"impairment {spec!r}: robot {robot!r} is impaired twice; "
                             "put all its settings in one --impair")
        result[robot] = impairment
    return result


def parse_detour(spec: str) -> tuple[str, str, float]:
    """``A-B`` or ``A-B:delay=20ms``: robots A and B reach each other only through the lab's
    delay forwarder on the router (like a DERP-relayed pair), which adds ``delay`` each way."""
    pair, _, settings = spec.partition(":")
    a, dash, b = pair.partition("-")
    if not dash or not a or not b or a == b:
        raise InputError(f"detour {spec!r} is not ROBOT-ROBOT[:delay=…] (e.g. r1-r2:delay=20ms)")
    delay = 0.0
    if settings:
        key, eq, value = settings.partition("=")
        if not eq or key.strip() != "delay":
            raise InputError(f"detour {spec!r}: only delay=… may follow the pair")
        delay = _parse_value(spec, "delay", value.strip())
    return a.strip(), b.strip(), delay


def parse_detours(specs: list[str]) -> dict[frozenset[str], float]:
    detours: dict[frozenset[str], float] = {}
    for spec in specs:
        a, b, delay = parse_detour(spec)
        if frozenset((a, b)) in detours:
            raise InputError(f"detour {spec!r}: the pair {a}-{b} is given twice")
        detours[frozenset((a, b))] = delay
    return detours
