"""Frame slider with a spin box, and the keys that move through frames."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from viewer.model.view import ViewerModel

PAGE_FRAMES = 10


def _steps(page: int) -> dict[int, int]:
    return {
        Qt.Key.Key_Right.value: 1,
        Qt.Key.Key_Down.value: 1,
        Qt.Key.Key_Left.value: -1,
        Qt.Key.Key_Up.value: -1,
        Qt.Key.Key_PageDown.value: page,
        Qt.Key.Key_PageUp.value: -page,
    }


def navigation_target(key: int, current: int, count: int, page: int = PAGE_FRAMES) -> int | None:
    """The frame a navigation key leads to from `current`, or None for other keys.

    Right/Down: next; Left/Up: previous; Page Down/Up: `page` frames on/back;
    Home/End: first/last.
    """
    if count <= 0:
        return None
    steps = _steps(page)
    if key == Qt.Key.Key_Home:
        return 0
    if key == Qt.Key.Key_End:
        return count - 1
    if key in steps:
        return max(0, min(count - 1, current + steps[key]))
    return None


def navigation_keys(page: int = PAGE_FRAMES) -> list[tuple[int, str]]:
    """Every key :func:`navigation_target` knows, with what it does (for the shortcuts list)."""
    def describe(step: int) -> str:
        if abs(step) == 1:
            return "Next frame" if step > 0 else "Previous frame"
        return f"{abs(step)} frames {'forward' if step > 0 else 'back'}"

    keys = [(key, describe(step)) for key, step in _steps(page).items()]
    return keys + [(Qt.Key.Key_Home.value, "First frame"), (Qt.Key.Key_End.value, "Last frame")]


class FrameControls(QWidget):
    """A slider and a spin box (1-based, as users count frames) over the document's frames."""

    def __init__(self, state: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(PAGE_FRAMES)
        self.slider.setToolTip("Frame (wheel, arrow keys, Page Up/Down, Home/End)")
        self.spin = QSpinBox()
        self.spin.setKeyboardTracking(False)
        self.spin.setToolTip("Frame number")
        self.count_label = QLabel("of 0")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Frame"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        layout.addWidget(self.count_label)

        self.slider.valueChanged.connect(self.state.set_frame)
        self.spin.valueChanged.connect(lambda number: self.state.set_frame(number - 1))
        state.document_changed.connect(self._on_document_changed)
        state.frame_changed.connect(self._on_frame_changed)
        state.frame_count_changed.connect(lambda _count: self._on_document_changed(self.state.document))
        self._on_document_changed(state.document)

    def _on_document_changed(self, document) -> None:
        count = document.num_frames if document is not None else 0
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setRange(0, max(0, count - 1))
            self.spin.setRange(1 if count else 0, count)
            self.count_label.setText(f"of {count}")
        self.setEnabled(count > 1)
        self._on_frame_changed(self.state.frame_index)

    def _on_frame_changed(self, index: int) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setValue(index)
            self.spin.setValue(index + 1)
