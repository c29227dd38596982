"""rqt plugin "Overlay link health": the peer table fed by /overlay_monitor/status.

Registered in plugin.xml (exported from package.xml); needs rqt_gui_py (ROS from apt).
"""
from __future__ import annotations

import time

from rqt_gui_py.plugin import Plugin  # type: ignore[import-not-found]

from .peer_table_widget import PeerTableWidget
from .qt import QTimer


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
        self._latest = None
        self._convert = snapshot_from_msg
        self._subscription = context.node.create_subscription(
            OverlayStatus, "/overlay_monitor/status", self._on_status,
            QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._timer = QTimer()  # callbacks arrive on ROS threads; Qt is updated from here
        self._timer.timeout.connect(self._update)
        self._timer.start(250)

    def _on_status(self, msg) -> None:  # type: ignore[no-untyped-def]
        self._latest = (msg, time.monotonic())

    def _update(self) -> None:
        latest, self._latest = self._latest, None
        if latest is not None:
            self._widget.show_snapshot(self._convert(latest[0]), latest[1])
        else:
            self._widget.refresh()

    def shutdown_plugin(self) -> None:
        self._timer.stop()
