"""link_test node: answers link tests (server mode) and runs them on request.

Service ``~/run`` (overlay_msgs/srv/RunLinkTest) measures a target over the overlay (and its
underlay address when given); results are published on ``~/results``
(overlay_msgs/LinkTestResult) and appended to the dataset. The test runs in the service's own
callback group on a multi-threaded executor, so the node's other callbacks never wait for it.
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

from overlay_msgs.msg import LinkTestResult, PeerStatus
from overlay_msgs.srv import RunLinkTest
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Header

from ..errors import OverlayError
from ..linktest.dataset import DEFAULT_DATASET, LinkTestRecord, append_records
from ..linktest.protocol import DEFAULT_PORT
from ..linktest.run import LinkTestOptions, measure
from ..linktest.server import LinkTestServer
from ..models import LinkState
from .spin import run_node

STATE_CONSTANTS = {s.value: s.msg_constant for s in LinkState}


def result_msg(record: LinkTestRecord, header: Header) -> LinkTestResult:
    def num(value: float) -> float:
        return float("nan") if value is None else float(value)

    return LinkTestResult(
        header=header, target=record.target, path=record.path,
        connection_state=STATE_CONSTANTS.get(record.connection_state, PeerStatus.STATE_UNKNOWN),
        location=record.location, tool=f"{record.rtt_tool}+{record.throughput_tool}",
        rtt_min_ms=num(record.rtt_min_ms), rtt_avg_ms=num(record.rtt_avg_ms),
        rtt_max_ms=num(record.rtt_max_ms), rtt_mdev_ms=num(record.rtt_mdev_ms),
        loss_percent=num(record.loss_percent), jitter_ms=num(record.udp_jitter_ms),
        tcp_throughput_bps=num(record.tcp_bps), udp_throughput_bps=num(record.udp_bps),
        duration_s=num(record.duration_s))


class LinkTestNode(Node):
    def __init__(self) -> None:
        super().__init__("link_test")
        declare = self.declare_parameter
        declare("serve", True, ParameterDescriptor(
            description="answer link tests from other members", read_only=True))
        declare("port", DEFAULT_PORT, ParameterDescriptor(
            description="link-test server port (TCP control + UDP echo; data on port+1)",
            read_only=True, integer_range=[IntegerRange(from_value=1024, to_value=65534, step=1)]))
        declare("ping_count", 20, ParameterDescriptor(
            description="default pings per test", read_only=True,
            integer_range=[IntegerRange(from_value=1, to_value=1000, step=1)]))
        declare("duration_s", 5.0, ParameterDescriptor(
            description="default throughput test length", read_only=True,
            floating_point_range=[FloatingPointRange(from_value=0.5, to_value=60.0, step=0.0)]))
        declare("tool", "auto", ParameterDescriptor(
            description="auto, builtin or iperf3", read_only=True))
        declare("dataset", str(DEFAULT_DATASET), ParameterDescriptor(
            description="JSONL file results are appended to", read_only=True))
        if self._value("tool") not in ("auto", "builtin", "iperf3"):
            raise ParameterException(f"tool {self._value('tool')!r} is not auto, builtin or "
                                     "iperf3", ["tool"])
        self._server = None
        self._stopping = threading.Event()
        if self._value("serve"):
            self._server = LinkTestServer("0.0.0.0", self._value("port")).start()
            self.get_logger().info(f"answering link tests on port {self._server.port}")
        self._results = self.create_publisher(LinkTestResult, "~/results", 10)
        self.create_service(RunLinkTest, "~/run", self._run,
                            callback_group=MutuallyExclusiveCallbackGroup())

    def _value(self, name: str):  # type: ignore[no-untyped-def]
        return self.get_parameter(name).value

    def _measure(self, request: RunLinkTest.Request) -> list[LinkTestRecord]:
        options = LinkTestOptions(
            port=self._value("port"), count=request.ping_count or self._value("ping_count"),
            duration_s=request.duration_s if request.duration_s > 0
            else self._value("duration_s"), tool=self._value("tool"),
            location=request.location)
        records = [measure(request.target, "overlay", options)]
        if request.underlay_target:
            records.append(measure(request.underlay_target, "underlay", options, "underlay"))
        append_records(Path(self._value("dataset")), records)
        return records

    def _run(self, request: RunLinkTest.Request,
             response: RunLinkTest.Response) -> RunLinkTest.Response:
        # The test runs in a daemon thread; this callback waits for it but gives up at once when
        # the node stops, so SIGINT/SIGTERM never wait for a test (up to its length + timeouts).
        outcome: dict[str, object] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["records"] = self._measure(request)
            except OverlayError as err:
                outcome["error"] = err
            finally:
                done.set()

        self.get_logger().info(f"link test to {request.target} started")
        threading.Thread(target=work, name="link-test", daemon=True).start()
        while not done.wait(0.1):
            if self._stopping.is_set():
                response.success, response.message = False, "cancelled: the node is stopping"
                return response
        if "error" in outcome:
            response.success, response.message = False, str(outcome["error"])
            self.get_logger().warning(f"link test to {request.target} failed: "
                                      f"{outcome['error']}")
            return response
        records: list[LinkTestRecord] = outcome["records"]  # type: ignore[assignment]
        header = Header(stamp=self.get_clock().now().to_msg())
        response.results = [result_msg(r, header) for r in records]
        for msg in response.results:
            self._results.publish(msg)
        response.success = True
        rtt = records[0].rtt_avg_ms
        response.message = (f"RTT {'unknown' if math.isnan(rtt) else f'{rtt:.2f} ms'}, "
                            f"TCP {records[0].tcp_bps / 1e6:.1f} Mbit/s")
        self.get_logger().info(f"link test to {request.target}: {response.message}")
        return response

    def destroy_node(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # two threads: the RunLinkTest service (its own callback group) never blocks the rest
    return run_node("link_test", LinkTestNode, args, lambda: MultiThreadedExecutor(num_threads=2))

if __name__ == "__main__":
    raise SystemExit(main())
