"""The peer table widget. All decisions (rows, colours, order, staleness) come from
``peer_table_model``; this only puts them on screen."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ..models import OverlaySnapshot
from ..peer_table_model import COLUMNS, client_line, is_stale, rows, sort_rows
from .qt import (
    QBrush,
    QColor,
    QComboBox,
    QHeaderView,
    QLabel,
    Qt,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

STALE_AFTER_S = 5.0


class PeerTableWidget(QWidget):  # type: ignore[misc]
    def __init__(self, stale_after_s: float = STALE_AFTER_S) -> None:
        super().__init__()
        self.setObjectName("OverlayPeerTable")
        self.setWindowTitle("Overlay link health")
        self.stale_after_s = stale_after_s
        self.robot = QComboBox()  # the robots whose monitors publish (their namespaces)
        self.robot.setToolTip("the robot whose monitor this shows (/<robot>/overlay_monitor/status)")
        self.robot.setVisible(False)
        self.client = QLabel(client_line(None))
        self.banner = QLabel("STALE: no status from the overlay monitor")
        self.banner.setStyleSheet("background:#d9363e;color:white;font-weight:bold;padding:4px")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().sectionClicked.connect(self._sort_by)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.robot)
        layout.addWidget(self.client)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        self.sort_column, self.descending = 0, False
        self.snapshot: OverlaySnapshot | None = None
        self.last_message_s: float | None = None

    def set_robots(self, robots: list[str]) -> None:
        """The robots to choose from (shown once there is a choice); keeps the current one."""
        current = self.selected_robot()
        if robots == [self.robot.itemText(i) for i in range(self.robot.count())]:
            return
        self.robot.blockSignals(True)
        self.robot.clear()
        self.robot.addItems(robots)
        if current in robots:
            self.robot.setCurrentIndex(robots.index(current))
        self.robot.blockSignals(False)
        self.robot.setVisible(len(robots) > 1)

    def selected_robot(self) -> str:
        return str(self.robot.currentText())

    def show_snapshot(self, snapshot: OverlaySnapshot, received_s: float | None = None) -> None:
        self.snapshot = snapshot
        self.last_message_s = time.monotonic() if received_s is None else received_s
        self.refresh()

    def _sort_by(self, column: int) -> None:
        self.descending = not self.descending if column == self.sort_column else False
        self.sort_column = column
        self.refresh()

    def refresh(self, now_s: float | None = None, now: datetime | None = None) -> None:
        """Redraw from the last snapshot (also called by a timer, so STALE shows by itself)."""
        now_s = time.monotonic() if now_s is None else now_s
        stale = is_stale(self.last_message_s, now_s, self.stale_after_s, self.snapshot)
        self.banner.setVisible(stale)
        self.client.setText(client_line(self.snapshot))
        table_rows = [] if self.snapshot is None else sort_rows(
            rows(self.snapshot, now or datetime.now(timezone.utc)), self.sort_column,
            self.descending)
        self.table.setRowCount(len(table_rows))
        for r, row in enumerate(table_rows):
            for c, text in enumerate(row.cells):
                item = QTableWidgetItem(text)
                if c == COLUMNS.index("state"):
                    item.setBackground(QBrush(QColor(row.colour)))
                    item.setForeground(QBrush(QColor("white")))
                if c >= COLUMNS.index("RTT"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
