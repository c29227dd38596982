"""The Qt binding: python_qt_binding (what rqt uses, from ROS: PyQt5) when installed, else
PySide6 (from PyPI). ``OVERLAY_QT_BINDING=pyside6`` or ``=python_qt_binding`` picks one.

Everything Qt, ``QApplication`` included, comes from here: an application made with one binding
and widgets made with the other abort the process ("Fatal Python error: Aborted").
"""
from __future__ import annotations

import os

_CHOICE = os.environ.get("OVERLAY_QT_BINDING", "").lower()

try:  # pragma: no cover - depends on the installation
    if _CHOICE == "pyside6":
        raise ImportError("OVERLAY_QT_BINDING=pyside6")
    from python_qt_binding.QtCore import Qt, QTimer  # type: ignore[import-not-found]
    from python_qt_binding.QtGui import QBrush, QColor  # type: ignore[import-not-found]
    from python_qt_binding.QtWidgets import (  # type: ignore[import-not-found]
        QApplication,
        QComboBox,
        QHeaderView,
        QLabel,
        QTableWidget,
        QTableWidgetItem,
        QVBoxLayout,
        QWidget,
    )

    BINDING = "python_qt_binding"
except ImportError:
    if _CHOICE == "python_qt_binding":
        raise
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QBrush, QColor
    from PySide6.QtWidgets import (
        QApplication,
        QComboBox,
        QHeaderView,
        QLabel,
        QTableWidget,
        QTableWidgetItem,
        QVBoxLayout,
        QWidget,
    )

    BINDING = "PySide6"

__all__ = ["BINDING", "Qt", "QTimer", "QApplication", "QComboBox", "QBrush", "QColor", "QHeaderView",
           "QLabel", "QTableWidget", "QTableWidgetItem", "QVBoxLayout", "QWidget"]
