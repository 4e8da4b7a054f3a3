"""The Export Cine dialog: which frames, how fast, which format, where."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from viewer.export import default_name

_FORMATS = (("MP4 video (H.264)", ".mp4"), ("Animated GIF", ".gif"))


@dataclass(frozen=True)
class CineRequest:
    """What the user asked for: frames ``first..last`` (0-based, inclusive), rate, output file."""

    path: str
    first: int
    last: int
    fps: float

    @property
    def indices(self) -> list[int]:
        return list(range(self.first, self.last + 1))


class ExportCineDialog(QDialog):
    """Frame range (numbered from 1, as the frame box), frame rate, format and file name.

    The default name is made of frame numbers only, never of patient fields.
    """

    def __init__(self, num_frames: int, fps: float, folder: str, edits_pending: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Cine")
        self._folder = folder
        self.first = QSpinBox()
        self.last = QSpinBox()
        for box in (self.first, self.last):
            box.setRange(1, max(1, num_frames))
        self.last.setValue(num_frames)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.1, 1000.0)
        self.fps.setDecimals(2)
        self.fps.setValue(fps)
        self.fps.setSuffix(" fps")
        self.format = QComboBox()
        for text, suffix in _FORMATS:
            self.format.addItem(text, suffix)
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("From frame", self.first)
        form.addRow("To frame", self.last)
        form.addRow("Frame rate", self.fps)
        form.addRow("Format", self.format)
        form.addRow("File", where)
        form.addRow(QLabel("As shown: the current window, at full resolution."
                           + (" Unsaved edits are included." if edits_pending else "")))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        for widget in (self.first, self.last):
            widget.valueChanged.connect(self._suggest_name)
        self.format.currentIndexChanged.connect(self._suggest_name)
        self._suggested = ""
        self._suggest_name()
        # Wide enough for the suggested path (up to about 70 characters; longer ones show their end).
        metrics = self.path.fontMetrics()
        self.path.setMinimumWidth(min(metrics.horizontalAdvance(self._suggested + "M") + 16,
                                      metrics.horizontalAdvance("M" * 45)))

    def _suggest_name(self) -> None:
        """Follow the range and format in the file name until the user types their own."""
        if self.path.text() and self.path.text() != self._suggested:
            return
        indices = [self.first.value() - 1, max(self.first.value(), self.last.value()) - 1]
        self._suggested = os.path.join(self._folder, default_name("cine", indices, self.format.currentData()))
        self.path.setText(self._suggested)

    def _browse(self) -> None:
        suffix = self.format.currentData()
        path, _ = QFileDialog.getSaveFileName(self, "Export Cine", self.path.text(), f"*{suffix}")
        if path:
            self.path.setText(path if os.path.splitext(path)[1].lower() == suffix else path + suffix)

    def request(self) -> CineRequest:
        """The choices made (the range put in order)."""
        first, last = sorted((self.first.value() - 1, self.last.value() - 1))
        return CineRequest(self.path.text(), first, last, self.fps.value())
