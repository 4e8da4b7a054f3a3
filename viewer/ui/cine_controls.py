"""Play/Pause button, frame-rate override and loop/bounce choice for a :class:`~viewer.model.view.Playback`."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QPushButton, QWidget

from viewer.model.view import BOUNCE, LOOP, Playback


class CineControls(QWidget):
    """Controls of cine playback; the rate box shows the file's own rate while no override is set."""

    def __init__(self, player: Playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play or pause (Space)")
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.0, 1000.0)
        self.rate.setDecimals(1)
        self.rate.setSuffix(" fps")
        self.rate.setSpecialValueText(own_rate_text(None, player.default_fps))
        self.rate.setKeyboardTracking(False)
        self.mode = QComboBox()
        self.mode.addItem("Loop", LOOP)
        self.mode.addItem("Bounce", BOUNCE)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.play_button)
        layout.addWidget(self.rate)
        layout.addWidget(self.mode)

        self.play_button.toggled.connect(self._on_play_toggled)
        self.rate.valueChanged.connect(lambda fps: player.set_fps_override(fps or None))
        self.mode.currentIndexChanged.connect(lambda _: player.set_mode(self.mode.currentData()))
        player.playing_changed.connect(self._on_playing_changed)
        player.rate_changed.connect(self._on_rate_changed)
        self._on_rate_changed(player.fps)

    def _on_play_toggled(self, checked: bool) -> None:
        self.player.play() if checked else self.player.pause()
        self._on_playing_changed(self.player.playing)

    def _on_playing_changed(self, playing: bool) -> None:
        with QSignalBlocker(self.play_button):
            self.play_button.setChecked(playing)
            self.play_button.setText("Pause" if playing else "Play")

    def _on_rate_changed(self, fps: float) -> None:
        source = "override" if self.player.fps_override else ("file" if self.player.file_fps else "default")
        self.rate.setSpecialValueText(own_rate_text(self.player.file_fps, self.player.default_fps))
        self.rate.updateGeometry()  # the spin box does not ask for room for a longer special text itself
        self.rate.setToolTip(f"Playback rate: {fps:.3g} fps ({source}); 0 plays at the file's own rate")


def own_rate_text(file_fps: float | None, default_fps: float) -> str:
    """What the rate box says with no override: "file rate (30 fps)", or "default (30 fps)" if the file has none."""
    if file_fps:
        return f"file rate ({file_fps:.3g} fps)"
    return f"default ({default_fps:.3g} fps)"
