"""rqt plugin "Overlay link health": the peer table fed by every robot's
``/<robot>/overlay_monitor/status`` (a laptop sees them all and picks one in the list).

Registered in plugin.xml (exported from package.xml); needs rqt_gui_py (ROS from apt).
"""
from __future__ import annotations

import time

from rqt_gui_py.plugin import Plugin  # type: ignore[import-not-found]

from ..fleet import status_topics
from .peer_table_widget import PeerTableWidget
from .qt import QTimer

DISCOVER_EVERY_S = 2.0


class OverlayLinkHealth(Plugin):  # type: ignore[misc]
    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        self.setObjectName("OverlayLinkHealth")
        from overlay_msgs.msg import OverlayStatus
        from rclpy.qos import DurabilityPolicy, QoSProfile

        from ..nodes.status_topic import snapshot_from_msg

        self._widget = PeerTableWidget()
        if context.serial_number() > 1:
            self._widget.setWindowTitle(f"{self._widget.windowTitle()} ({context.serial_number()})")
        context.add_widget(self._widget)
        self._node = context.node
        self._type = OverlayStatus
        self._qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._convert = snapshot_from_msg
        self._subscriptions: dict[str, object] = {}
        self._latest: dict[str, tuple[object, float]] = {}
        self._shown: tuple[str, float] | None = None
        self._discovered_at = 0.0
        self._widget.robot.currentIndexChanged.connect(lambda _: self._update(force=True))
        self._timer = QTimer()  # callbacks arrive on ROS threads; Qt is updated from here
        self._timer.timeout.connect(self._update)
        self._timer.start(250)

    def _discover(self) -> None:
        for robot, topic in status_topics(self._node.get_topic_names_and_types()).items():
            if robot not in self._subscriptions:
                self._subscriptions[robot] = self._node.create_subscription(
                    self._type, topic,
                    lambda msg, robot=robot: self._latest.__setitem__(robot, (msg, time.monotonic())),
                    self._qos)
        self._widget.set_robots(sorted(self._subscriptions))

    def _update(self, force: bool = False) -> None:
        if time.monotonic() - self._discovered_at > DISCOVER_EVERY_S:
            self._discovered_at = time.monotonic()
            self._discover()
        robot = self._widget.selected_robot()
        latest = self._latest.get(robot)
        if latest is not None and (force or self._shown != (robot, latest[1])):
            self._shown = (robot, latest[1])
            self._widget.show_snapshot(self._convert(latest[0]), latest[1])
        else:
            self._widget.refresh()

    def shutdown_plugin(self) -> None:
        self._timer.stop()
        for subscription in self._subscriptions.values():
            self._node.destroy_subscription(subscription)
