"""Status bar: the pixel under the cursor, background work, playback rate, and one plain summary.

The summary reads ``Read-only · 2.1 GB file, 115 MB memory``; its tool tip
has the details (file access, mapped values, file pages cached). Memory is
read once a second and counts only what no file backs: pages of a mapped
file are the system's cache, which it drops when memory is needed, so a
4 GB file played through does not look like 4 GB of memory used.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from viewer.model.storage import fileaccess
from viewer.model.view import FpsMeter, Playback
from viewer.model.view.captions import MemoryFigures, readout_text, status_details, status_summary
from viewer.ui.memory import memory_use
from viewer.model.view import ViewerModel

MEMORY_INTERVAL_MS = 1000
FPS_INTERVAL_MS = 500
_READ_PREFIX = fileaccess.READ_PREFIX


def file_access_text(document) -> tuple[str, str]:
    """(label, reason) of how `document` reads its file: "memory-mapped" or "read: <reason>".

    A mapped file held under a kernel read lease says so: another program's
    write then waits until Cinemap has let go of the mapping.
    """
    reason = document.file_access_reason
    if document.file_access == fileaccess.READ:
        detail = reason[len(_READ_PREFIX):] if reason.startswith(_READ_PREFIX) else reason
        detail = detail.strip().lstrip(":").strip().removeprefix("(").removesuffix(")")
        return (f"read: {detail}" if detail else "read"), reason
    if document.has_lease:
        return "memory-mapped, leased", (
            f"{reason}; a read lease makes another program's write wait until Cinemap lets go of the mapping"
        )
    return "memory-mapped", reason


class StatusBar(QStatusBar):
    """The main window's status bar, listening to the state and the player."""

    def __init__(self, state: ViewerModel, player: Playback, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.player = player
        self.meter = FpsMeter()
        self.pixel = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.fps = QLabel()
        self.summary = QLabel()
        self.summary.setObjectName("StatusSummary")
        self.addWidget(self.pixel, 1)
        for widget in (self.progress, self.fps, self.summary):
            self.addPermanentWidget(widget)

        self._memory = MemoryFigures(None, None)
        self._memory_timer = QTimer(self, interval=MEMORY_INTERVAL_MS)
        self._memory_timer.timeout.connect(self.update_memory)
        self._memory_timer.start()
        self._fps_timer = QTimer(self, interval=FPS_INTERVAL_MS)
        self._fps_timer.timeout.connect(self._show_fps)
        state.document_changed.connect(lambda _document: self.show_summary())
        state.mode_changed.connect(lambda _writable: self.show_summary())
        player.playing_changed.connect(self._on_playing_changed)
        self.update_memory()

    # -------------------------------------------------------------- summary
    def show_summary(self) -> None:
        """Refresh the summary and its details (the lease goes when another program writes, or in write mode)."""
        document = self.state.document
        if document is not None and document.closed:
            document = None
        access, reason = file_access_text(document) if document is not None else ("", "")
        self.summary.setText(status_summary(document.writable if document is not None else None,
                                            document.file_size if document is not None else None, self._memory))
        self.summary.setToolTip(status_details(document, access, reason, self._memory))

    def update_memory(self) -> None:
        use = memory_use()
        self._memory = MemoryFigures.from_resident(use.resident, use.anonymous, use.file_backed)
        self.show_summary()  # once a second: cheap, and the lease may have gone

    # ------------------------------------------------------------------ fps
    def count_painted_frame(self) -> None:
        """Called for every new frame that reached the screen."""
        if self.player.playing:
            self.meter.count()

    def _on_playing_changed(self, playing: bool) -> None:
        self.meter.reset()
        if playing:
            self.fps.setText(f"playing at {self.player.fps:.3g} fps")
            self._fps_timer.start()
        else:
            self._fps_timer.stop()
            self.fps.setText("")

    def _show_fps(self) -> None:
        dropped = self.player.dropped_frames
        self.fps.setText(f"{self.meter.fps():.1f} fps of {self.player.fps:.3g}"
                         + (f", {dropped} dropped" if dropped else ""))
        self.fps.setToolTip("Frames per second reaching the screen, of the rate asked for; frames the machine "
                            "could not show in time are dropped so that playback keeps to the clock")

    # ---------------------------------------------------------- pixel, work
    def show_pixel(self, readout) -> None:
        """Show a :class:`~viewer.model.display.render.PixelReadout` (None: clear)."""
        self.pixel.setText(readout_text(readout))

    def show_progress(self, text: str, done: int, total: int) -> None:
        """Show background work; ``done >= total`` hides the bar (a text stays as a message)."""
        if done >= total:
            self.progress.hide()
            if text:
                self.showMessage(text, 5000)
            else:
                self.clearMessage()
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setToolTip(text)
        self.progress.show()
        self.showMessage(text)
