"""The overhead report: PNG plots (matplotlib, Agg) and one HTML page (jinja2).

Figures: TCP throughput over time per location and path; RTT distribution (box plot) overlay
against underlay; average RTT and jitter per location; loss per location; the percent
log-change table (throughput loss, RTT increase) for every location measured on both paths, and
its bars side by side; the ROS 2 message tests (delivery, latency) when the records carry them.
"""
from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402

from ..errors import InputError  # noqa: E402
from ..files import write_atomic  # noqa: E402
from .dataset import LinkTestRecord  # noqa: E402
from .metrics import log_change_pct  # noqa: E402
from .run import fmt, overhead  # noqa: E402

PATH_COLOURS = {"overlay": "#1f77b4", "underlay": "#ff7f0e"}

PAGE = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Overlay link tests</title>
<style>body{font-family:sans-serif;max-width:960px;margin:auto}table{border-collapse:collapse}
td,th{border:1px solid #999;padding:4px 8px;text-align:right}th{background:#eee}
img{max-width:100%}</style></head><body>
<h1>Overlay link tests</h1>
<p>{{ count }} measurement(s) from {{ locations|length }} location(s), {{ first }} to {{ last }}.
Overhead is the percent log-change ln(y/x)&middot;100: throughput loss = ln(TP<sub>underlay</sub>
/ TP<sub>overlay</sub>)&middot;100, RTT increase = ln(RTT<sub>overlay</sub> /
RTT<sub>underlay</sub>)&middot;100 (positive: the overlay is worse).</p>
<h2>Overhead per location</h2>
<table><tr><th>location</th><th>state</th><th>TCP underlay</th><th>TCP overlay</th>
<th>throughput loss</th><th>RTT underlay</th><th>RTT overlay</th><th>RTT increase</th></tr>
{% for row in overhead %}<tr><td>{{ row.location }}</td><td>{{ row.state }}</td>
<td>{{ row.tp_under }}</td><td>{{ row.tp_over }}</td><td>{{ row.tp_loss }}</td>
<td>{{ row.rtt_under }}</td><td>{{ row.rtt_over }}</td><td>{{ row.rtt_inc }}</td></tr>
{% else %}<tr><td colspan="8">no location measured on both paths</td></tr>{% endfor %}</table>
{% if ros %}<h2>ROS 2 messages per location</h2>
<table><tr><th>location</th><th>message</th><th>delivered underlay</th>
<th>delivered overlay</th><th>delivery loss</th><th>latency underlay</th>
<th>latency overlay</th></tr>
{% for row in ros %}<tr><td>{{ row.location }}</td><td>{{ row.message }}</td>
<td>{{ row.got_under }}</td><td>{{ row.got_over }}</td><td>{{ row.delivery_loss }}</td>
<td>{{ row.lat_under }}</td><td>{{ row.lat_over }}</td></tr>{% endfor %}</table>
<p>Delivery loss is the same log-change: ln(delivered<sub>underlay</sub> /
delivered<sub>overlay</sub>)&middot;100. Latency is the median one-way time (one clock: the lab).</p>
{% endif %}
{% for image in images %}<h2>{{ image.title }}</h2><img src="{{ image.file }}" alt="{{ image.title }}">
{% endfor %}</body></html>
""")


@dataclass(frozen=True)
class Figure:
    file: str
    title: str


def _label(record: LinkTestRecord) -> str:
    return record.location or record.target


def _save(fig: MplFigure, out: Path, name: str) -> str:
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return name


def _throughput_over_time(records: list[LinkTestRecord], out: Path) -> str:
    fig, ax = plt.subplots(figsize=(8, 4))
    for record in records:
        if record.tcp_intervals_bps:
            times = [0.5 * (i + 1) for i in range(len(record.tcp_intervals_bps))]
            ax.plot(times, [v / 1e6 for v in record.tcp_intervals_bps],
                    color=PATH_COLOURS[record.path], alpha=0.8,
                    label=f"{_label(record)} ({record.path})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("TCP throughput (Mbit/s)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, out, "throughput_over_time.png")


def _rtt_distribution(records: list[LinkTestRecord], out: Path) -> str:
    samples = {path: [s for r in records if r.path == path for s in r.rtt_samples_ms]
               for path in ("underlay", "overlay")}
    present = [p for p in ("underlay", "overlay") if samples[p]]
    fig, ax = plt.subplots(figsize=(6, 4))
    if present:
        box = ax.boxplot([samples[p] for p in present], patch_artist=True)
        ax.set_xticks(range(1, len(present) + 1), present)
        for patch, path in zip(box["boxes"], present, strict=True):
            patch.set_facecolor(PATH_COLOURS[path])
    ax.set_ylabel("RTT (ms)")
    ax.grid(alpha=0.3)
    return _save(fig, out, "rtt_distribution.png")


def _per_location(records: list[LinkTestRecord], out: Path) -> str:
    locations = sorted({_label(r) for r in records})
    fig, (rtt_ax, jitter_ax, loss_ax) = plt.subplots(1, 3, figsize=(12, 4))
    width = 0.4
    for offset, path in ((-width / 2, "underlay"), (width / 2, "overlay")):
        by_location: dict[str, list[LinkTestRecord]] = defaultdict(list)
        for record in records:
            if record.path == path:
                by_location[_label(record)].append(record)

        def mean(values: list[float]) -> float:
            known = [v for v in values if not math.isnan(v)]
            return sum(known) / len(known) if known else math.nan

        xs = [i + offset for i in range(len(locations))]
        for ax, attr in ((rtt_ax, "rtt_avg_ms"), (jitter_ax, "udp_jitter_ms"),
                         (loss_ax, "loss_percent")):
            ax.bar(xs, [mean([getattr(r, attr) for r in by_location[loc]]) for loc in locations],
                   width, color=PATH_COLOURS[path], label=path)
    for ax, title in ((rtt_ax, "average RTT (ms)"), (jitter_ax, "UDP jitter (ms)"),
                      (loss_ax, "ping loss (%)")):
        ax.set_xticks(range(len(locations)), locations, rotation=30, ha="right")
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0 if ax is loss_ax else 0.0))
    rtt_ax.legend()
    return _save(fig, out, "per_location.png")


def overhead_rows(records: list[LinkTestRecord]) -> list[dict[str, str]]:
    latest = _latest(records)
    rows = []
    for location in sorted({loc for loc, _ in latest}):
        under, over = latest.get((location, "underlay")), latest.get((location, "overlay"))
        if under is None or over is None:
            continue
        result = overhead(under, over)
        rows.append({"location": location, "state": over.connection_state,
                     "tp_under": fmt(under.tcp_bps / 1e6, " Mbit/s", 1),
                     "tp_over": fmt(over.tcp_bps / 1e6, " Mbit/s", 1),
                     "tp_loss": fmt(result.throughput_loss_pct, " %"),
                     "rtt_under": fmt(under.rtt_avg_ms, " ms"),
                     "rtt_over": fmt(over.rtt_avg_ms, " ms"),
                     "rtt_inc": fmt(result.rtt_increase_pct, " %")})
    return rows


def _latest(records: list[LinkTestRecord]) -> dict[tuple[str, str], LinkTestRecord]:
    latest: dict[tuple[str, str], LinkTestRecord] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        latest[(_label(record), record.path)] = record
    return latest


def _locations(latest: dict[tuple[str, str], LinkTestRecord]) -> list[str]:
    """Locations in the order they were first measured."""
    first: dict[str, str] = {}
    for (location, _), record in latest.items():
        first[location] = min(first.get(location, record.timestamp), record.timestamp)
    return sorted(first, key=lambda loc: (first[loc], loc))


def _messages(record: LinkTestRecord | None) -> dict[int, dict[str, Any]]:
    return {int(m["size_bytes"]): m for m in record.ros_messages} if record else {}


def _size_text(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 1_000_000 else f"{size / 1e3:g} kB"


def ros_rows(records: list[LinkTestRecord]) -> list[dict[str, str]]:
    """One row per location and ROS message size, underlay next to overlay."""
    latest = _latest(records)
    rows = []
    for location in _locations(latest):
        under = _messages(latest.get((location, "underlay")))
        over = _messages(latest.get((location, "overlay")))
        for size in sorted(set(under) | set(over)):
            u, o = under.get(size, {}), over.get(size, {})
            rate = (o or u).get("rate_hz", math.nan)
            rows.append({"location": location, "message": f"{_size_text(size)} at {rate:g} Hz",
                         "got_under": _got(u), "got_over": _got(o),
                         "delivery_loss": fmt(_delivery_loss(u, o), " %"),
                         "lat_under": fmt(_num(u.get("latency_ms_median")), " ms"),
                         "lat_over": fmt(_num(o.get("latency_ms_median")), " ms")})
    return rows


def _delivery_loss(under: dict[str, Any], over: dict[str, Any]) -> float:
    """ln(delivered underlay / delivered overlay)·100; NaN when either side is missing or
    delivered nothing."""
    return log_change_pct(over.get("received", 0), under.get("received", 0))


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _got(message: dict[str, Any]) -> str:
    return f"{message['received']}/{message['sent']}" if message else "-"


def _log_change_bars(records: list[LinkTestRecord], out: Path) -> str:
    """Throughput loss, RTT increase and 1 MB delivery loss per location, side by side (the
    seed study's bars)."""
    latest = _latest(records)
    locations = [loc for loc in _locations(latest)
                 if (loc, "underlay") in latest and (loc, "overlay") in latest]
    series: dict[str, list[float]] = {"TCP throughput loss": [], "RTT increase": [],
                                      "1 MB delivery loss": []}
    for location in locations:
        under, over = latest[(location, "underlay")], latest[(location, "overlay")]
        result = overhead(under, over)
        series["TCP throughput loss"].append(result.throughput_loss_pct)
        series["RTT increase"].append(result.rtt_increase_pct)
        series["1 MB delivery loss"].append(_delivery_loss(_messages(under).get(1_000_000, {}),
                                                           _messages(over).get(1_000_000, {})))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - 1) * width for j in range(len(locations))]
        bars = ax.bar(xs, [0.0 if math.isnan(v) else v for v in values], width, label=name)
        ax.bar_label(bars, labels=["n/a" if math.isnan(v) else f"{v:.0f}" for v in values],
                     fontsize="x-small")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(locations)), locations, rotation=20, ha="right")
    ax.set_ylabel("log-change against the underlay (%)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, out, "log_change.png")


def write_report(records: list[LinkTestRecord], out: Path) -> Path:
    if not records:
        raise InputError("the dataset has no records: run 'overlay-linktest run' first")
    out.mkdir(parents=True, exist_ok=True)
    images = [Figure(_throughput_over_time(records, out), "TCP throughput over time"),
              Figure(_rtt_distribution(records, out), "RTT distribution, overlay and underlay"),
              Figure(_per_location(records, out), "Average RTT, jitter and loss per location"),
              Figure(_log_change_bars(records, out), "Overhead against the underlay, per "
                                                     "location (log-change, %)")]
    stamps = sorted(r.timestamp for r in records)
    page = PAGE.render(count=len(records), locations={_label(r) for r in records},
                       first=html.escape(stamps[0]), last=html.escape(stamps[-1]),
                       overhead=overhead_rows(records), ros=ros_rows(records), images=images)
    return write_atomic(out / "index.html", page)
