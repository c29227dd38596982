"""The fleet's link history for people without Grafana: the dashboard's queries, read from
Prometheus's query_range API, drawn with matplotlib (Agg) into PNG files and one HTML page.

``series_from_query_range`` is pure (the API's JSON in, series out); ``fetch_range`` does the
HTTP; ``write_fleet_report`` draws.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from overlay_monitor.errors import BackendUnavailable, InputError
from overlay_monitor.files import write_atomic

from .dashboard import PANEL_QUERIES, STATES

STATE_PANEL = next(iter(PANEL_QUERIES))
RTT_PANEL = "RTT per peer"
SHARE_PANEL = "DERP vs direct share per team"
STATE_COLOURS = ("#2e7d32", "#f9a825", "#1565c0", "#9e9e9e", "#c62828")


@dataclass
class Series:
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def name(self, keys: tuple[str, ...]) -> str:
        return " → ".join(self.labels.get(k, "?") for k in keys)


def series_from_query_range(answer: Any) -> list[Series]:
    """The series of a /api/v1/query_range answer (status success, resultType matrix)."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        raise InputError(f"Prometheus answered with an error: {error or answer!r:.200}")
    data = answer.get("data") or {}
    if data.get("resultType") != "matrix":
        raise InputError(f"expected a matrix from query_range, got {data.get('resultType')!r}")
    result = []
    for item in data.get("result") or []:
        values = [(float(t), float(v)) for t, v in item.get("values") or []]
        result.append(Series(dict(item.get("metric") or {}), [t for t, _ in values],
                             [v for _, v in values]))
    return result


def fetch_range(url: str, query: str, start: float, end: float, step_s: float,
                timeout_s: float = 30.0) -> list[Series]:
    try:
        response = httpx.get(url.rstrip("/") + "/api/v1/query_range", timeout=timeout_s,
                             params={"query": query, "start": f"{start:.3f}",
                                     "end": f"{end:.3f}", "step": f"{step_s:g}"})
    except httpx.HTTPError as err:
        raise BackendUnavailable(f"Prometheus {url}: {err}") from None
    try:
        answer = response.json()
    except ValueError:
        raise BackendUnavailable(f"Prometheus {url}: HTTP {response.status_code}, not JSON: "
                                 f"{response.text[:200]}") from None
    return series_from_query_range(answer)


def _plot_states(series: list[Series], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    rows = sorted(series, key=lambda s: s.name(("instance", "peer")))
    fig, ax = plt.subplots(figsize=(11, 0.45 * max(len(rows), 2) + 1.6))
    cmap = ListedColormap(STATE_COLOURS)
    norm = BoundaryNorm([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], cmap.N)
    for i, row in enumerate(rows):
        times = mdates.date2num([datetime.fromtimestamp(t, timezone.utc)  # type: ignore[no-untyped-call]
                                 for t in row.times])
        ax.scatter(times, [i] * len(times), c=row.values, cmap=cmap, norm=norm, marker="s",
                   s=30, linewidths=0)
    ax.xaxis_date()
    ax.set_yticks(range(len(rows)), [r.name(("instance", "peer")) for r in rows])
    handles = [Line2D([], [], marker="s", linestyle="", color=c, label=s)
               for s, c in zip(STATES, STATE_COLOURS, strict=True)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("Peer state over time (each robot's view of each peer)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_lines(series: list[Series], keys: tuple[str, ...], title: str, ylabel: str,
                path: Path, scale: float = 1.0) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    for row in sorted(series, key=lambda s: s.name(keys)):
        points = [(datetime.fromtimestamp(t, timezone.utc), v * scale)
                  for t, v in zip(row.times, row.values, strict=True) if not math.isnan(v)]
        if points:
            ax.plot(mdates.date2num([p[0] for p in points]),  # type: ignore[no-untyped-call]
                    [p[1] for p in points],
                    label=row.name(keys))
    ax.xaxis_date()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_fleet_report(url: str, out: Path, hours: float = 6.0,
                       now: float | None = None) -> Path:
    """Query the last ``hours`` from Prometheus at ``url``; write PNGs and index.html."""
    if not 0 < hours <= 24 * 31:
        raise InputError(f"--hours {hours:g} is out of range (0..744)")
    end = now if now is not None else datetime.now(timezone.utc).timestamp()
    start = end - hours * 3600
    step = max(15.0, hours * 3600 / 600)
    out.mkdir(parents=True, exist_ok=True)
    states = fetch_range(url, PANEL_QUERIES[STATE_PANEL][0][0], start, end, step)
    rtts = fetch_range(url, PANEL_QUERIES[RTT_PANEL][0][0], start, end, step)
    shares = fetch_range(url, PANEL_QUERIES[SHARE_PANEL][0][0], start, end, step)
    _plot_states(states, out / "peer_states.png")
    _plot_lines(rtts, ("instance", "peer"), "RTT per peer", "ms", out / "rtt.png", 1000.0)
    _plot_lines(shares, ("team",), "Share of active links relayed through DERP, per team",
                "share", out / "derp_share.png")
    when = datetime.fromtimestamp(end, timezone.utc).isoformat(timespec="seconds")
    page = (f"<!doctype html><meta charset='utf-8'><title>Overlay fleet history</title>"
            f"<h1>Overlay fleet history</h1><p>{html.escape(url)}, the {hours:g} h before "
            f"{when}: {len(states)} robot-peer pairs.</p>"
            "<img src='peer_states.png'><img src='rtt.png'><img src='derp_share.png'>\n")
    return write_atomic(out / "index.html", page)
