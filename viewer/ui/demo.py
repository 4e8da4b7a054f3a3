"""``cinemap --demo``: a synthetic cine of about 2 GB, made once in the cache folder.

The file is written by :func:`viewer.synthetic.cine.write_cine` on a worker
thread under a cancellable progress dialog, to a temporary name that is
renamed only when complete, so a cancelled or failed run leaves no half
file. Later runs reuse it; ``cinemap --demo --fresh`` and File > Regenerate
Demo write it again (a masked demo becomes clean).
"""

from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressBar, QProgressDialog, QWidget

from viewer.ui.paths import cache_folder
from viewer.ui.workers import Cancelled, Task, run_in_background

DEMO_ROWS = DEMO_COLUMNS = 512
DEMO_FRAMES = 4000  # 512 x 512 x 2 bytes x 4000 = 2.1 GB
DEMO_FRAME_TIME_MS = 1000 / 30
FRAMES_VARIABLE = "CINEMAP_DEMO_FRAMES"


def demo_frames() -> int:
    """Frames of the demo: :data:`DEMO_FRAMES` unless ``CINEMAP_DEMO_FRAMES`` says otherwise."""
    try:
        return max(1, int(os.environ.get(FRAMES_VARIABLE, DEMO_FRAMES)))
    except ValueError:
        return DEMO_FRAMES


def demo_path(frames: int | None = None) -> str:
    """The demo file for `frames` frames (the default size keeps the plain name)."""
    frames = demo_frames() if frames is None else frames
    name = "demo-cine.dcm" if frames == DEMO_FRAMES else f"demo-cine-{frames}.dcm"
    return os.path.join(cache_folder(), name)


def write_demo(path: str, frames: int, progress: Callable[[int, int], None]) -> str:
    """Write the demo to `path` through a temporary file (worker thread)."""
    from viewer.synthetic import write_cine

    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.part-{os.getpid()}"
    try:
        write_cine(
            partial, frames=frames, rows=DEMO_ROWS, columns=DEMO_COLUMNS, bits_allocated=16,
            frame_time_ms=DEMO_FRAME_TIME_MS, progress=progress,
        )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path


class DemoBuilder(QObject):
    """Makes the demo file if needed, then emits :attr:`ready` with its path.

    Signals
    -------
    ready(str)
        The demo file exists (made now or earlier).
    failed(object)
        Writing failed (not emitted when the user cancelled).
    cancelled()
    """

    ready = Signal(str)
    failed = Signal(object)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parent = parent
        self.dialog: QProgressDialog | None = None
        self._task: Task | None = None

    def start(self, fresh: bool = False) -> None:
        """Emit :attr:`ready` with the demo's path, writing it first if needed (or if `fresh`).

        A fresh demo is written beside the old one and renamed over it when
        complete, so cancelling keeps the old file.
        """
        frames = demo_frames()
        path = demo_path(frames)
        if os.path.exists(path) and not fresh:  # only complete files get the final name
            self.ready.emit(path)
            return
        size_gb = frames * DEMO_ROWS * DEMO_COLUMNS * 2 / 1e9
        when = "again, replacing the old one" if fresh else "once; later runs reuse it"
        dialog = QProgressDialog(
            f"Writing a synthetic cine of {size_gb:.1f} GB to\n{path}\n({when})",
            "Cancel", 0, frames, self._parent,
        )
        dialog.setWindowTitle("Cinemap demo")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        bar = QProgressBar(dialog)
        bar.setRange(0, frames)
        dialog.setBar(bar)
        dialog.setValue(0)  # shows it (nothing can be pending yet)
        self.dialog = dialog
        self._task = task = run_in_background(
            lambda progress: write_demo(path, frames, progress),
            on_success=self._on_written,
            on_failure=self._on_failed,
            # The bar, not dialog.setValue: on a modal dialog that runs the event loop,
            # which can deliver the end of the work and delete the dialog inside setValue.
            on_progress=lambda done, _total: bar.setValue(done) if self.dialog is dialog else None,
            context=self,
        )
        dialog.canceled.connect(task.cancel)

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _on_written(self, path: str) -> None:
        self._close_dialog()
        self.ready.emit(path)

    def _on_failed(self, exc: BaseException, _trace: str) -> None:
        self._close_dialog()
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(exc)
