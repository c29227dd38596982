"""The fleet's Grafana dashboard, built with Grafana's own dashboard-as-code library
(grafana-foundation-sdk): a matrix of peer state over time, RTT and throughput per peer, the
DERP-vs-direct share per team, and link events. ``PANEL_QUERIES`` lists every PromQL expression
it uses, so a test can evaluate each one against a real Prometheus."""
from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.statetimeline import Panel as StateTimeline
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder

UID = "overlay-fleet"
DASHBOARD_FILE = "grafana/overlay_fleet.json"

STATES = ("direct", "derp", "peer-relay", "idle", "offline")
#: the matrix's value for a pair: 1 direct, 2 derp, 3 peer-relay, 4 idle, 5 offline (one-hot sum)
STATE_NUMBER = " + ".join(
    f'{n} * sum by (instance, peer) (overlay_peer_state{{state="{s}"}})'
    for n, s in enumerate(STATES, start=1))

#: panel title -> [(PromQL, legend)]
PANEL_QUERIES: dict[str, list[tuple[str, str]]] = {
    "Peer state (1 direct, 2 DERP, 3 peer relay, 4 idle, 5 offline)": [
        (STATE_NUMBER, "{{instance}} → {{peer}}")],
    "RTT per peer": [("overlay_peer_rtt_seconds", "{{instance}} → {{peer}}")],
    "Throughput per peer (received)": [
        ("rate(overlay_peer_rx_bytes_total[1m]) * 8", "{{instance}} ← {{peer}}")],
    "Throughput per peer (sent)": [
        ("rate(overlay_peer_tx_bytes_total[1m]) * 8", "{{instance}} → {{peer}}")],
    "DERP vs direct share per team": [
        ('sum by (team) (overlay_peer_state{state="derp"}) / clamp_min(sum by (team) '
         '(overlay_peer_state{state=~"derp|direct|peer-relay"}), 1)', "{{team}} DERP"),
        ('sum by (team) (overlay_peer_state{state="direct"}) / clamp_min(sum by (team) '
         '(overlay_peer_state{state=~"derp|direct|peer-relay"}), 1)', "{{team}} direct")],
    "Link events per minute": [
        ("sum by (peer, from, to) (increase(overlay_link_events_total[5m]))",
         "{{peer}}: {{from}} → {{to}}")],
}


def _targets(title: str) -> list[Dataquery]:
    return [Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
            for i, (expr, legend) in enumerate(PANEL_QUERIES[title])]


def build_dashboard() -> Dashboard:
    titles = list(PANEL_QUERIES)
    builder: Dashboard = (Dashboard("Overlay fleet links").uid(UID)
               .tags(["overlay_bringup", "tailscale", "headscale"])
               .refresh("30s").time("now-6h", "now")
               .with_row(Row("Fleet matrix")))
    matrix = StateTimeline().title(titles[0]).span(24).height(10)
    for target in _targets(titles[0]):
        matrix = matrix.with_target(target)
    builder = builder.with_panel(matrix).with_row(Row("Per peer"))
    for title, unit in ((titles[1], "s"), (titles[2], "bps"), (titles[3], "bps")):
        panel = Timeseries().title(title).unit(unit).span(8)
        for target in _targets(title):
            panel = panel.with_target(target)
        builder = builder.with_panel(panel)
    builder = builder.with_row(Row("Teams and events"))
    for title, unit in ((titles[4], "percentunit"), (titles[5], "short")):
        panel = Timeseries().title(title).unit(unit).span(12)
        for target in _targets(title):
            panel = panel.with_target(target)
        builder = builder.with_panel(panel)
    return builder


def render_dashboard() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build_dashboard().build()) + "\n"
