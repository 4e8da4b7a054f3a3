"""Window/level controls: presets, centre and width, automatic window, invert, reset.

The presets are the file's VOIs (VOI LUTs by their explanation, then
windows), the automatic window and the full range. The automatic window is
computed from percentiles of a few frames spread over the file
(:meth:`viewer.model.view.ViewerModel.automatic_window_job`) on a worker
thread, because decoding sampled frames of a compressed file can take seconds.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from viewer.model.display.voi import LUT
from viewer.model.view import ViewerModel
from viewer.ui.workers import Cancelled, Task, run_in_background


class WindowLevelControls(QWidget):
    """Preset menu, centre/width boxes, Auto, Invert and Reset.

    Signals
    -------
    progress(str, int, int)
        Text, done, total of the automatic-window sampling (done == total: finished).
    """

    progress = Signal(str, int, int)

    def __init__(self, state: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._task: Task | None = None
        self.presets = QComboBox()
        self.presets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.presets.setToolTip(
            "Window presets: the file's VOI LUTs and windows, automatic (percentiles of sampled frames), full range"
        )
        self.center_box = self._number_box("Window centre (rescaled units); or drag up/down with the right button")
        self.width_box = self._number_box("Window width (rescaled units); or drag left/right with the right button")
        self.width_box.setMinimum(1e-3)
        self.auto_button = QPushButton("Auto")
        self.auto_button.setToolTip("Window from the 0.5th to the 99.5th percentile of frames sampled over the file")
        self.invert = QCheckBox("Invert")
        self.reset_button = QPushButton("Reset")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for label, widget in (("W/L", self.presets), ("C", self.center_box), ("W", self.width_box)):
            layout.addWidget(QLabel(label))
            layout.addWidget(widget)
        layout.addWidget(self.auto_button)
        layout.addWidget(self.invert)
        layout.addWidget(self.reset_button)

        self.presets.activated.connect(self._on_preset_chosen)
        self.center_box.valueChanged.connect(lambda value: state.set_window(value, self.width_box.value()))
        self.width_box.valueChanged.connect(lambda value: state.set_window(self.center_box.value(), value))
        self.auto_button.clicked.connect(lambda: self.compute_auto_window(apply=True))
        self.invert.toggled.connect(state.set_invert)
        self.reset_button.clicked.connect(state.reset_window)
        state.document_changed.connect(self._on_document_changed)
        state.window_changed.connect(self._on_window_changed)
        state.invert_changed.connect(self._on_invert_changed)
        state.presets_changed.connect(self._on_presets_changed)
        self._on_document_changed(state.document)

    @staticmethod
    def _number_box(tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(-1e9, 1e9)
        box.setDecimals(1)
        box.setKeyboardTracking(False)
        box.setToolTip(tip)
        return box

    # --------------------------------------------------------------- updates
    def _on_document_changed(self, document) -> None:
        self.cancel()
        self.setEnabled(self.state.is_grey)
        if document is not None and self.state.is_grey and document.num_frames:
            self.compute_auto_window()

    def _on_window_changed(self, center: float, width: float) -> None:
        with QSignalBlocker(self.center_box), QSignalBlocker(self.width_box):
            self.center_box.setValue(center)
            self.width_box.setValue(width)
        self._select_matching_preset()

    def _on_invert_changed(self, invert: bool) -> None:
        with QSignalBlocker(self.invert):
            self.invert.setChecked(invert)

    def _on_presets_changed(self, presets: list) -> None:
        with QSignalBlocker(self.presets):
            self.presets.clear()
            for preset in presets:
                self.presets.addItem(preset.name, preset)
                self.presets.setItemData(self.presets.count() - 1, _preset_tip(preset), Qt.ItemDataRole.ToolTipRole)
        self._select_matching_preset()

    def _select_matching_preset(self) -> None:
        with QSignalBlocker(self.presets):
            match = -1
            source = self.state.voi_source
            for row in range(self.presets.count()):
                preset = self.presets.itemData(row)
                if source is not None:
                    found = preset.source == source
                else:
                    found = abs(preset.center - self.state.center) < 1e-6 and abs(preset.width - self.state.width) < 1e-6
                if found:
                    match = row
                    break
            self.presets.setCurrentIndex(match)

    def _on_preset_chosen(self, row: int) -> None:
        preset = self.presets.itemData(row)
        if preset is not None:
            self.state.apply_preset(preset)

    # ----------------------------------------------------------- auto window
    def compute_auto_window(self, apply: bool = False) -> None:
        """Start sampling frames for the automatic window (replaces a run in progress).

        With `apply`, show the result; otherwise it replaces the automatic
        preset and is shown only if the user has not chosen a window.
        """
        document = self.state.document
        if document is None or not document.num_frames or not self.state.is_grey:
            return
        self.cancel()
        self.auto_button.setEnabled(False)
        task = run_in_background(
            self.state.automatic_window_job(),
            on_success=lambda preset: self._on_auto_window(document, preset, apply),
            on_failure=lambda exc, _trace: self._on_auto_failed(document, exc),
            on_progress=lambda done, total: self.progress.emit("Sampling frames for the automatic window", done, total),
            context=self,
        )
        self._task = task

    def cancel(self) -> None:
        """Stop a sampling run in progress (its result, if any, is ignored)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.auto_button.setEnabled(True)

    def _on_auto_window(self, document, preset, apply: bool) -> None:
        if document is not self.state.document:
            return
        self._task = None
        self.auto_button.setEnabled(True)
        self.progress.emit("", 1, 1)
        if preset is not None:
            self.state.set_automatic_window(preset)
            if apply:
                self.state.apply_preset(preset)

    def _on_auto_failed(self, document, exc: BaseException) -> None:
        if document is not self.state.document:
            return
        self._task = None
        self.auto_button.setEnabled(True)
        if not isinstance(exc, Cancelled):
            self.progress.emit(f"Automatic window failed: {exc}", 1, 1)
        else:
            self.progress.emit("", 1, 1)


def _preset_tip(preset) -> str:
    if preset.source is not None and preset.source.kind == LUT:
        low = preset.center - preset.width / 2
        return f"The file's VOI LUT (input values {low:g} to {low + preset.width - 1:g})"
    return f"centre {preset.center:g}, width {preset.width:g}"
