"""``overlay-chatter``: a talker or listener that measures delivery across the overlay.

    overlay-chatter talk   [--rate 10] [--size 20] [--duration 12]
    overlay-chatter listen [--duration 12]          # prints one JSON line when done

The listener reports when the first message arrived (seconds after start), how many arrived,
how many the talker had sent by then (from the sequence numbers), and the one-way latency
(wall clock; meaningful between processes of one machine, e.g. the lab). Both roles report the
CPU time they used. Used by the lab demo and
the end-to-end discovery tests; works with any RMW and discovery configuration in the
environment.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

TOPIC = "overlay_chatter"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overlay-chatter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("talk", "listen"))
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second (talk)")
    parser.add_argument("--topic", default=TOPIC, help=f"the topic (default {TOPIC})")
    parser.add_argument("--size", type=int, default=20, help="payload bytes (talk)")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds to run")
    parser.add_argument("--best-effort", action="store_true",
                        help="best-effort QoS (default: reliable)")
    parser.add_argument("--times", action="store_true",
                        help="listen: also print every arrival time")
    return parser


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.rate <= 1000 or not 0 <= args.size <= 64 * 1024 * 1024 or args.duration <= 0:
        print("overlay-chatter: error: --rate must be in (0, 1000], --size in [0, 64 MiB], "
              "--duration > 0", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT if args.best_effort
                     else ReliabilityPolicy.RELIABLE)
    rclpy.init()
    node = rclpy.create_node(f"overlay_chatter_{args.role}")
    start = time.monotonic()
    wall_start = time.time()
    cpu_at_start = _cpu_s()
    received: list[tuple[float, int]] = []
    latencies: list[float] = []
    try:
        if args.role == "talk":
            publisher = node.create_publisher(String, args.topic, qos)
            padding = "x" * args.size
            sequence = 0

            def publish() -> None:
                nonlocal sequence
                sequence += 1
                publisher.publish(String(data=f"{sequence}:{time.time():.6f}:{padding}"))

            node.create_timer(1.0 / args.rate, publish)
        else:
            def on_message(msg: String) -> None:
                seq, sent, _ = msg.data.split(":", 2)
                received.append((time.monotonic() - start, int(seq)))
                latencies.append(time.time() - float(sent))

            node.create_subscription(String, args.topic, on_message, qos)
        while time.monotonic() - start < args.duration:
            rclpy.spin_once(node, timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        cpu_at_end = _cpu_s()
        node.destroy_node()
        rclpy.try_shutdown()
    cpu_s = round(cpu_at_end - cpu_at_start, 3)  # while running, without start-up
    if args.role == "talk":
        print(json.dumps({"sent": sequence, "cpu_s": cpu_s}), flush=True)
    if args.role == "listen":
        ordered = sorted(latencies)
        print(json.dumps({
            "received": len(received),
            "cpu_s": cpu_s,
            "latency_ms_median": round(1000 * ordered[len(ordered) // 2], 3) if ordered else None,
            "latency_ms_p95": round(1000 * ordered[int(len(ordered) * 0.95)], 3)
            if ordered else None,
            "first_s": round(received[0][0], 3) if received else None,
            # wall-clock time of the first arrival, to compare with when a launch started
            "first_wall": round(wall_start + received[0][0], 3) if received else None,
            "last_s": round(received[-1][0], 3) if received else None,
            "first_seq": received[0][1] if received else None,
            "last_seq": received[-1][1] if received else None,
            **({"arrivals_s": [round(t, 2) for t, _ in received]} if args.times else {}),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
