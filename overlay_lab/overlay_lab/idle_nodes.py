"""``python -m overlay_lab.idle_nodes --nodes 3 --duration 30``: an idle robot's ROS 2 graph.

Each node is its own DDS participant (its own rclpy context, as separate processes would be),
with one publisher and one subscriber on topics of its own, and nothing is published: what
remains on the network is discovery. Used by bench/fleet_scale.py to measure discovery traffic
per robot for each discovery mode. Prints one JSON line when done.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="overlay-idle-nodes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3, help="nodes (participants), 1-50")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds to stay up")
    parser.add_argument("--name", default="idle", help="node name prefix")
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 50 or args.duration <= 0:
        print("overlay-idle-nodes: error: --nodes must be in 1..50 and --duration > 0",
              file=sys.stderr)
        return 2
    import rclpy
    from rclpy.context import Context
    from std_msgs.msg import String

    started = time.monotonic()
    contexts, nodes = [], []
    for index in range(args.nodes):
        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node(f"{args.name}_{index}", context=context)
        node.create_publisher(String, f"{args.name}_{index}/out", 10)
        node.create_subscription(String, f"{args.name}_{index}/in", lambda _msg: None, 10)
        contexts.append(context)
        nodes.append(node)
    ready_s = time.monotonic() - started
    try:
        time.sleep(max(0.0, args.duration - ready_s))
    except KeyboardInterrupt:
        pass
    finally:
        for node, context in zip(nodes, contexts, strict=True):
            node.destroy_node()  # type: ignore[no-untyped-call]
            context.try_shutdown()
    print(json.dumps({"nodes": args.nodes, "ready_s": round(ready_s, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
