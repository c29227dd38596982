"""overlay_monitor node: publishes link health of the overlay this machine is on.

Topics: ``~/status`` (overlay_msgs/OverlayStatus, latched), ``/diagnostics``
(diagnostic_msgs/DiagnosticArray), ``~/events`` (overlay_msgs/LinkEvent, volatile).
The backend is polled in a worker thread; the timer callback only publishes the newest result.
With ``bridge_config`` (discovery mode zenoh-bridge) a second thread reads the robot's zenoh
bridge: its checks join the diagnostics and its metrics the exposition.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from overlay_msgs.msg import LinkEvent, OverlayStatus
from prometheus_client import start_http_server
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from ..backends import BACKENDS, make_backend
from ..backends.base import DEFAULT_SOCKET
from ..backends.zenoh_admin import ZenohAdmin
from ..bridge import BridgeStatus, bridge_checks, bridge_target
from ..errors import InputError
from ..files import read_input
from ..health import Check, HealthThresholds
from ..metrics import OverlayCollector, listen_address, make_registry
from ..monitor import MonitorConfig, MonitorUpdate, OverlayMonitor
from .convert import MessageCache, event_msg
from .spin import run_node

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=ReliabilityPolicy.RELIABLE)
PUBLISH_PERIOD_S = 0.05


def _float_range(low: float, high: float) -> list[FloatingPointRange]:
    return [FloatingPointRange(from_value=low, to_value=high, step=0.0)]


def _split(names: str) -> frozenset[str]:
    return frozenset(n.strip() for n in names.split(",") if n.strip())


class MonitorNode(Node):
    def __init__(self) -> None:
        super().__init__("overlay_monitor")
        declare = self.declare_parameter
        declare("backend", "tailscale", ParameterDescriptor(
            description=f"what to read: {' or '.join(BACKENDS)}", read_only=True))
        declare("socket_path", DEFAULT_SOCKET, ParameterDescriptor(
            description="tailscaled's LocalAPI unix socket", read_only=True))
        declare("interface", "", ParameterDescriptor(
            description="WireGuard interface (backend wireguard), e.g. wg0", read_only=True))
        declare("poll_period_s", 0.5, ParameterDescriptor(
            description="seconds between backend reads", read_only=True,
            floating_point_range=_float_range(0.1, 60.0)))
        declare("request_timeout_s", 2.0, ParameterDescriptor(
            description="timeout of one backend read", read_only=True,
            floating_point_range=_float_range(0.1, 30.0)))
        declare("ping_period_s", 10.0, ParameterDescriptor(
            description="seconds between RTT probes of one peer; 0 switches probes off",
            read_only=True, floating_point_range=_float_range(0.0, 3600.0)))
        declare("max_pings_in_flight", 4, ParameterDescriptor(
            description="RTT probes running at once", read_only=True,
            integer_range=[IntegerRange(from_value=1, to_value=64, step=1)]))
        declare("rtt_warn_ms", 150.0, ParameterDescriptor(
            description="RTT above this is WARN", floating_point_range=_float_range(1.0, 10000.0)))
        declare("rtt_error_ms", 500.0, ParameterDescriptor(
            description="RTT above this is ERROR", floating_point_range=_float_range(1.0, 10000.0)))
        declare("full_period_s", 2.0, ParameterDescriptor(
            description="status and diagnostics are published at once when a peer's path, "
                        "reachability, endpoint or region changes, and at least this often "
                        "(counters, rates); 0 = every poll", read_only=True,
            floating_point_range=_float_range(0.0, 60.0)))
        declare("metrics_port", 9101, ParameterDescriptor(
            description="Prometheus metrics on this TCP port; 0 = off", read_only=True,
            integer_range=[IntegerRange(from_value=0, to_value=65535, step=1)]))
        declare("metrics_address", "overlay", ParameterDescriptor(
            description="where the metrics listen: 'overlay' (this machine's own overlay IPv4, "
                        "once known: only fleet members can scrape), or an IP address",
            read_only=True))
        declare("watch_peers", "", ParameterDescriptor(
            description="comma-separated peers (names, IPs or keys) to report; empty = all",
            read_only=True))
        declare("ignore_peers", "", ParameterDescriptor(
            description="comma-separated peers never to report", read_only=True))

        declare("bridge_config", "", ParameterDescriptor(
            description="the zenoh bridge's configuration (discovery mode zenoh-bridge: "
                        "<discovery_dir>/zenoh_bridge.json5); empty = no bridge to watch",
            read_only=True))
        declare("bridge_period_s", 2.0, ParameterDescriptor(
            description="seconds between two reads of the zenoh bridge's admin space",
            read_only=True, floating_point_range=_float_range(0.5, 60.0)))

        value = self._value
        self._bridge: ZenohAdmin | None = None
        if value("bridge_config"):
            path = value("bridge_config")
            self._bridge = ZenohAdmin(bridge_target(read_input(path, "bridge configuration"),
                                                    path), value("request_timeout_s"))
        self._bridge_checks: list[Check] = []
        self._monitor = OverlayMonitor(
            make_backend(value("backend"), value("socket_path"), value("interface"),
                         value("request_timeout_s")),
            MonitorConfig(poll_period_s=value("poll_period_s"),
                          ping_period_s=value("ping_period_s"),
                          max_pings_in_flight=value("max_pings_in_flight"),
                          thresholds=HealthThresholds(value("rtt_warn_ms"), value("rtt_error_ms")),
                          watch=_split(value("watch_peers")),
                          ignore=_split(value("ignore_peers")),
                          full_period_s=value("full_period_s")))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._status_pub = self.create_publisher(OverlayStatus, "~/status", LATCHED)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._event_pub = self.create_publisher(LinkEvent, "~/events", 10)
        # diagnostics name the robot: "r1/overlay_monitor: peer r2", hardware id "r1/<peer key>"
        self._messages = MessageCache(self.get_fully_qualified_name().lstrip("/"),
                                      robot=self.get_namespace())
        self._metrics = OverlayCollector()
        self._metrics_server: Any = None
        self._metrics_failed = False
        self._lock = threading.Lock()
        self._pending: list[MonitorUpdate] = []
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._poll_loop, name="overlay-poll", daemon=True)
        self._worker.start()
        self._bridge_worker: threading.Thread | None = None
        if self._bridge is not None:
            self._bridge_worker = threading.Thread(target=self._bridge_loop, name="overlay-bridge",
                                                   daemon=True)
            self._bridge_worker.start()
        self.create_timer(PUBLISH_PERIOD_S, self._publish_pending)
        self.get_logger().info(f"watching the {value('backend')} overlay every "
                               f"{value('poll_period_s'):g} s")

    def _value(self, name: str):  # type: ignore[no-untyped-def]
        return self.get_parameter(name).value

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        proposed = {p.name: p.value for p in params}
        warn = proposed.get("rtt_warn_ms", self._value("rtt_warn_ms"))
        error = proposed.get("rtt_error_ms", self._value("rtt_error_ms"))
        try:
            thresholds = HealthThresholds(float(warn), float(error))
        except InputError as err:
            return SetParametersResult(successful=False, reason=str(err))
        self._monitor.config = replace(self._monitor.config, thresholds=thresholds)
        return SetParametersResult(successful=True)

    def _poll_loop(self) -> None:
        period = self._monitor.config.poll_period_s
        while not self._stop.is_set():
            update = self._monitor.poll()  # never raises: failures come back STALE
            self._metrics.update(update.snapshot, update.events)
            self._start_metrics(update)
            with self._lock:
                self._pending = self._pending[-20:] + [update]
            self._stop.wait(period)

    def _bridge_loop(self) -> None:
        assert self._bridge is not None
        period, was_up = self._value("bridge_period_s"), None
        while not self._stop.is_set():
            status: BridgeStatus = self._bridge.status()  # never raises
            checks = bridge_checks(status, self._bridge.target)
            self._metrics.update_bridge(status)
            with self._lock:
                self._bridge_checks = checks
            if status.reachable != was_up:
                # one call site per severity (rclpy)
                if status.reachable:
                    self.get_logger().info(f"zenoh bridge: {checks[0].message}")
                else:
                    self.get_logger().warning(checks[0].message)
                was_up = status.reachable
            self._stop.wait(period)

    def _start_metrics(self, update: MonitorUpdate) -> None:
        """Serve the metrics once the address to listen on is known (thread: the poller)."""
        port = self._value("metrics_port")
        if self._metrics_server is not None or self._metrics_failed or not port:
            return
        address = listen_address(self._value("metrics_address"), update.snapshot)
        if not address:
            return  # not joined yet: try again next poll
        try:
            self._metrics_server, _ = start_http_server(port, address,
                                                        make_registry(self._metrics))
        except OSError as err:
            self.get_logger().error(f"metrics not served on {address}:{port}: {err}")
            self._metrics_failed = True
            return
        self.get_logger().info(f"Prometheus metrics on http://{address}:{port}/metrics")

    def _publish_pending(self) -> None:
        with self._lock:
            updates, self._pending = self._pending, []
            bridge = list(self._bridge_checks)
        if not updates:
            return
        header = Header(stamp=self.get_clock().now().to_msg())
        for update in updates:
            for event in update.events:
                # one call site per severity: rclpy refuses to change it between calls
                if event.new_state in ("offline", "unreachable", "derp", "peer-relay"):
                    self.get_logger().warning(event.message)
                else:
                    self.get_logger().info(event.message)
                self._event_pub.publish(event_msg(event, header))
        full = [update for update in updates if update.full]
        if full:  # between full updates only events are new (see FullUpdateGate)
            self._status_pub.publish(self._messages.status(full[-1].snapshot, header))
            self._diag_pub.publish(self._messages.diagnostics(full[-1].checks + bridge, header))

    def destroy_node(self) -> None:
        self._stop.set()
        self._worker.join(timeout=5.0)
        if self._bridge_worker is not None:
            self._bridge_worker.join(timeout=5.0)
            assert self._bridge is not None
            self._bridge.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self._monitor.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("overlay_monitor", MonitorNode, args)

if __name__ == "__main__":
    raise SystemExit(main())
