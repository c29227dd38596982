"""Benchmark: CPU time of one monitor status cycle, change-to-topic latency, node RSS.

Prints figures; asserts nothing. Run after `source tools/env.sh`:
    python bench/monitor_cycle.py            # cycle cost at 10/100/1000 peers (no ROS needed)
    python bench/monitor_cycle.py --ros      # also: path change -> /overlay_monitor/events, RSS

One cycle = parse the LocalAPI status JSON, classify, derive rates/events, judge health, and build
the ROS messages (when overlay_msgs is importable). The JSON comes from the stand-in's shapes
(test/standins), the same shapes tailscaled serialises. As a reference measured in the same run,
the cost of json.loads alone on the same document is printed, and the cycle as a multiple of it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
from overlay_monitor.health import CheckCache, HealthThresholds  # noqa: E402
from overlay_monitor.monitor import FullUpdateGate  # noqa: E402
from overlay_monitor.tailscale_status import snapshot_from_status  # noqa: E402
from overlay_monitor.tracker import LinkTracker  # noqa: E402
from standins.tailscale_shapes import peer_status, status  # noqa: E402

STATES = ["direct", "derp", "peer-relay", "idle", "offline"]
ACTIVE = ("direct", "derp", "peer-relay")


def make_statuses(n: int, cycles: int, active_share: float) -> list[str]:
    """``cycles`` successive status documents of ``n`` peers. In each, the byte counters of the
    active share of peers grow (their rates, messages and checks change); the rest stay idle."""
    rng = random.Random(n)
    active = set(rng.sample(range(n), round(n * active_share)))
    states = [rng.choice(ACTIVE) if i in active else rng.choice(["idle", "offline"])
              for i in range(n)]
    texts = []
    for c in range(cycles):
        peers = [peer_status(f"robot{i}", f"100.64.{i // 250}.{i % 250 + 1}", state=states[i],
                             rx=1000 + (c * 7919 * (i + 1) if i in active else 0),
                             tx=2000 + (c * 104729 if i in active else 0)) for i in range(n)]
        texts.append(json.dumps(status(peers=peers)))
    return texts


def cycle_cost_ms(texts: list[str], with_msgs: bool, poll_s: float = 0.5,
                  full_period_s: float = 0.0) -> tuple[float, float]:
    """Mean CPU time of what the node does per poll, and median of json.loads alone (reference).

    Like the node: every poll parses and tracks; status and checks are judged and turned into
    messages only on a full update (FullUpdateGate: a visible change, or ``full_period_s``)."""
    gate = FullUpdateGate(full_period_s)
    tracker = LinkTracker()
    judge = CheckCache()
    thresholds = HealthThresholds()
    messages = header = None
    if with_msgs:
        from std_msgs.msg import Header

        from overlay_monitor.nodes.convert import MessageCache
        messages, header = MessageCache("overlay_monitor"), Header()
    cycle, parse_only = [], []
    for i, text in enumerate(texts):
        t0 = time.process_time()
        json.loads(text)
        parse_only.append(time.process_time() - t0)
        t0 = time.process_time()
        snapshot = snapshot_from_status(text, datetime.now(timezone.utc))  # as the client does
        events = tracker.update(snapshot, i * poll_s)
        if gate.due(snapshot, i * poll_s) or events:
            checks = judge.checks(snapshot, thresholds)
            if messages is not None:
                messages.status(snapshot, header)
                messages.diagnostics(checks, header)
        cycle.append(time.process_time() - t0)
    # the first cycle fills the caches; report the steady state (the mean: full updates and
    # light polls alternate)
    return statistics.mean(cycle[1:]) * 1000, statistics.median(parse_only) * 1000


def scrape_cost_ms(text: str) -> tuple[float, float]:
    """CPU time of one scrape of the node's metrics endpoint (without HTTP), and of json.loads
    of the same status (reference, same run)."""
    from prometheus_client import generate_latest

    from overlay_monitor.metrics import OverlayCollector, make_registry

    collector = OverlayCollector()
    collector.update(snapshot_from_status(text, datetime.now(timezone.utc)))
    registry = make_registry(collector)
    scrapes, loads = [], []
    for _ in range(20):
        t0 = time.process_time()
        generate_latest(registry)
        scrapes.append(time.process_time() - t0)
        t0 = time.process_time()
        json.loads(text)
        loads.append(time.process_time() - t0)
    return statistics.median(scrapes) * 1000, statistics.median(loads) * 1000


def ros_latency(samples: int) -> None:
    import psutil
    import rclpy
    from overlay_msgs.msg import LinkEvent

    from standins.fake_tailscaled import FakeTailscaled

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    tmp = Path(tempfile.mkdtemp())
    fake = FakeTailscaled(tmp / "ts.sock", tmp / "script.json")
    peers = [peer_status(f"robot{i}", f"100.64.0.{i + 2}") for i in range(100)]
    fake.set(status=status(peers=peers))
    fake.start()
    node = subprocess.Popen([sys.executable, "-m", "overlay_monitor.nodes.monitor_node",
                             "--ros-args", "-p", f"socket_path:={fake.socket_path}",
                             "-p", "ping_period_s:=0.0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rclpy.init()
    listener = rclpy.create_node("bench_listener")
    events: list[float] = []
    listener.create_subscription(LinkEvent, "/overlay_monitor/events",
                                 lambda m: events.append(time.monotonic()), 50)
    try:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            rclpy.spin_once(listener, timeout_sec=0.05)
        latencies = []
        for k in range(samples):
            state = "derp" if k % 2 == 0 else "direct"
            peers[0] = peer_status("robot0", "100.64.0.2", state=state)
            before = len(events)
            fake.set(status=status(peers=peers))
            changed = time.monotonic()
            deadline = changed + 5
            while len(events) == before and time.monotonic() < deadline:
                rclpy.spin_once(listener, timeout_sec=0.01)
            if len(events) > before:
                latencies.append(events[before] - changed)
        rss = psutil.Process(node.pid).memory_info().rss / 2**20
        print(f"path change -> LinkEvent on the topic (poll period 0.5 s, 100 peers): "
              f"median {statistics.median(latencies) * 1000:.0f} ms, max "
              f"{max(latencies) * 1000:.0f} ms over {len(latencies)} changes")
        print(f"monitor node RSS with 100 peers: {rss:.0f} MiB")
    finally:
        node.terminate()
        node.wait()
        listener.destroy_node()
        rclpy.try_shutdown()
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ros", action="store_true", help="also measure with the ROS node")
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    try:
        import overlay_msgs.msg  # noqa: F401
        with_msgs = True
    except ImportError:
        with_msgs = False
    print(f"status cycle CPU time, mean of steady-state polls (ROS messages built: "
          f"{'yes' if with_msgs else 'no'}); reference: json.loads of the same document, "
          "measured in the same run")
    for full_period in (0.0, 2.0):
        print(f"full update {'every poll' if not full_period else f'every {full_period:g} s'} "
              "(poll 0.5 s; a visible change always makes one):")
        for share in (0.1, 1.0):
            label = "10 % of peers active" if share < 1 else "every peer changing (worst case)"
            print(f"  {label}:")
            for n in (10, 100, 1000):
                texts = make_statuses(n, 33 if n < 1000 else 17, share)
                cycle, parse_only = cycle_cost_ms(texts, with_msgs, 0.5, full_period)
                print(f"    {n:5d} peers: {cycle:7.2f} ms per poll  (json.loads alone "
                      f"{parse_only:6.2f} ms; poll = {cycle / parse_only:4.1f}x)")
    print("Prometheus exporter: CPU per scrape (collect + text exposition), median of 20:")
    for n in (100, 1000):
        cost, parse_only = scrape_cost_ms(make_statuses(n, 2, 0.1)[-1])
        print(f"    {n:5d} peers: {cost:7.2f} ms per scrape  (json.loads of the status "
              f"{parse_only:6.2f} ms; scrape = {cost / parse_only:4.1f}x)")
    if args.ros:
        ros_latency(args.samples)


if __name__ == "__main__":
    main()
