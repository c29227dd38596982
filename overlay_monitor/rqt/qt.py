"""The Qt binding: python_qt_binding (what rqt uses, from ROS) when installed, else PySide6."""
from __future__ import annotations

try:  # pragma: no cover - depends on the installation
    from python_qt_binding.QtCore import Qt, QTimer  # type: ignore[import-not-found]
    from python_qt_binding.QtGui import QBrush, QColor  # type: ignore[import-not-found]
    from python_qt_binding.QtWidgets import (  # type: ignore[import-not-found]
        QHeaderView,
        QLabel,
        QTableWidget,
        QTableWidgetItem,
        QVBoxLayout,
        QWidget,
    )
except ImportError:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QBrush, QColor
    from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

__all__ = ["Qt", "QTimer", "QBrush", "QColor", "QHeaderView", "QLabel", "QTableWidget",
           "QTableWidgetItem", "QVBoxLayout", "QWidget"]
