"""Status bar: file size, bytes mapped, file access, memory of the process, mode, fps, pixel under the cursor.

Memory is read from ``/proc`` once a second, so that a user can watch a 4 GB
file cost little: the mapped pixel data shows up in resident memory only as
file pages the kernel can drop, not as anonymous memory.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from viewer.model import format_bytes
from viewer.model.storage import fileaccess
from viewer.ui.cine_player import CinePlayer, FpsMeter
from viewer.ui.memory import memory_use
from viewer.ui.viewer_state import ViewerState

MEMORY_INTERVAL_MS = 1000
FPS_INTERVAL_MS = 500
_READ_PREFIX = fileaccess.READ_PREFIX


def file_access_text(document) -> tuple[str, str]:
    """(label, tooltip) of how `document` reads its file: "memory-mapped" or "read: <reason>".

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

    def __init__(self, state: ViewerState, player: CinePlayer, parent: QWidget | None = None) -> None:
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
        self.mode = QLabel()
        self.file = QLabel()
        self.access = QLabel()
        self.memory = QLabel()
        self.memory.setToolTip(
            "Resident memory of Cinemap, and the part of it that is anonymous (not backed by a file). "
            "Mapped file pages are resident only while the kernel keeps them and cost no anonymous memory."
        )
        self.addWidget(self.pixel, 1)
        for widget in (self.progress, self.fps, self.mode, self.file, self.access, self.memory):
            self.addPermanentWidget(widget)

        self._memory_timer = QTimer(self, interval=MEMORY_INTERVAL_MS)
        self._memory_timer.timeout.connect(self.update_memory)
        self._memory_timer.start()
        self._fps_timer = QTimer(self, interval=FPS_INTERVAL_MS)
        self._fps_timer.timeout.connect(self._show_fps)
        state.document_changed.connect(self._on_document_changed)
        state.mode_changed.connect(self._show_mode)
        player.playing_changed.connect(self._on_playing_changed)
        self._on_document_changed(state.document)
        self.update_memory()

    # ------------------------------------------------------------- document
    def _on_document_changed(self, document) -> None:
        if document is None:
            self.file.setText("")
            self.mode.setText("")
            self.access.setText("")
            return
        self.file.setText(f"file {format_bytes(document.file_size)}, mapped {format_bytes(document.mapped_bytes)}")
        self._show_mode(document.writable)
        self.show_file_access()

    def show_file_access(self) -> None:
        """Refresh the access label (the lease goes when another program writes, or in write mode)."""
        document = self.state.document
        if document is None or document.closed:
            self.access.setText("")
            return
        text, tip = file_access_text(document)
        self.access.setText(text)
        self.access.setToolTip(tip)

    def _show_mode(self, writable: bool) -> None:
        self.mode.setText("Read-write" if writable else "Read-only")

    # ------------------------------------------------------------------ fps
    def count_painted_frame(self) -> None:
        """Called for every new frame that reached the screen."""
        if self.player.playing:
            self.meter.count()

    def _on_playing_changed(self, playing: bool) -> None:
        self.meter.reset()
        if playing:
            self.fps.setText(f"target {self.player.fps:.3g} fps")
            self._fps_timer.start()
        else:
            self._fps_timer.stop()
            self.fps.setText("")

    def _show_fps(self) -> None:
        self.fps.setText(
            f"{self.meter.fps():.1f} fps of {self.player.fps:.3g}, {self.player.dropped_frames} dropped"
        )

    # --------------------------------------------------------------- memory
    def update_memory(self) -> None:
        self.show_file_access()  # once a second too: cheap, and the lease may have gone
        use = memory_use()
        if use.resident is None:
            self.memory.setText("")
            return
        anonymous = format_bytes(use.anonymous) if use.anonymous is not None else "?"
        self.memory.setText(f"RSS {format_bytes(use.resident)}, anon {anonymous}")

    # ---------------------------------------------------------- pixel, work
    def show_pixel(self, readout) -> None:
        """Show a :class:`~viewer.model.display.render.PixelReadout` (None: clear)."""
        self.pixel.setText(readout.text() if readout is not None else "")

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
