"""File > Export Frame, File > Export Cine and Edit > Copy Frame.

Each writes what the view shows: the current window and invert, at full
resolution, pending edits included (and said so). The files are written by
:mod:`viewer.export` (Qt-free); a cine on a worker thread, with a progress
dialog whose Cancel deletes what was written.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from viewer.export import FrameRenderer, default_fps, default_name, export_document
from viewer.model.display.pipeline import GreyPipeline
from viewer.ui.error_dialog import show_error
from viewer.ui.export_dialog import CineRequest, ExportCineDialog
from viewer.model.view import ViewerModel
from viewer.ui.workers import Cancelled, Task, run_in_background

_STILL_FILTER = "PNG image (*.png);;TIFF image (*.tif *.tiff)"
EDITS_NOTE = " (includes unsaved edits)"


def to_qimage(image: np.ndarray) -> QImage:
    """A uint8 grey (rows, cols) or RGB (rows, cols, 3) array as a QImage owning its pixels."""
    image = np.ascontiguousarray(image)
    rows, columns = image.shape[:2]
    grey = image.ndim == 2
    qformat = QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888
    return QImage(image.data, columns, rows, image.strides[0], qformat).copy()


class ExportActions(QObject):
    """The export and copy actions of a window, enabled while a document is shown.

    Signals
    -------
    message(str)
        A line for the status bar ("Exported frame 7 to ...").
    cine_finished(object)
        The :class:`~viewer.export.ExportResult` of a cine export, or the
        exception that ended it (:class:`~viewer.ui.workers.Cancelled` for Cancel).
    """

    message = Signal(str)
    cine_finished = Signal(object)

    def __init__(self, state: ViewerModel, window: QWidget, fps=None) -> None:
        super().__init__(window)
        self.state = state
        self.window = window
        self._fps = fps  # callable giving the player's rate, or None: the file's
        self.task: Task | None = None
        self.progress_dialog: QProgressDialog | None = None
        self.frame_action = self._action("Export &Frame…", lambda: self.export_frame(),
                                         "Save the frame as shown (window, full resolution) as PNG or TIFF")
        self.cine_action = self._action("Export &Cine…", lambda: self.export_cine(),
                                        "Save a range of frames as shown as an MP4 video or an animated GIF")
        self.copy_action = self._action("&Copy Frame", self.copy_frame, "Copy the frame as shown to the clipboard",
                                        QKeySequence.StandardKey.Copy)
        state.document_changed.connect(self._update_actions)
        self._update_actions(state.document)

    def _action(self, text: str, slot, tip: str, shortcut=None) -> QAction:
        action = QAction(text, self.window)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _update_actions(self, document) -> None:
        usable = document is not None and document.num_frames > 0
        for action in (self.frame_action, self.cine_action, self.copy_action):
            action.setEnabled(usable)
        self.cine_action.setEnabled(usable and document.num_frames > 1)

    def _renderer(self, pipeline=None) -> FrameRenderer:
        state = self.state
        return FrameRenderer(state.document, state.choice if state.is_grey else None, state.invert,
                             pipeline if pipeline is not None else state.pipeline)

    def _edits_note(self) -> str:
        document = self.state.document
        return EDITS_NOTE if document is not None and document.dirty else ""

    # ------------------------------------------------------------- frame
    def current_image(self) -> np.ndarray:
        """The shown frame as exported: uint8 grey or RGB at full resolution."""
        return self._renderer().image(self.state.frame_index)

    def copy_frame(self) -> None:
        """Put the shown frame on the clipboard as an image."""
        if self.state.document is None:
            return
        QGuiApplication.clipboard().setImage(to_qimage(self.current_image()))
        self.message.emit(f"Copied frame {self.state.frame_index + 1}{self._edits_note()}")

    def export_frame(self, path: str | None = None) -> str | None:
        """Export the shown frame to `path` (asked for when None); returns the path written."""
        document = self.state.document
        if document is None:
            return None
        index = self.state.frame_index
        if path is None:
            suggested = os.path.join(os.path.dirname(document.path), default_name("frame", [index], ".png"))
            path, _ = QFileDialog.getSaveFileName(self.window, "Export Frame" + self._edits_note(), suggested,
                                                  _STILL_FILTER)
            if not path:
                return None
            if not os.path.splitext(path)[1]:
                path += ".png"
        try:
            export_document(document, path, [index], choice=self.state.choice if self.state.is_grey else None,
                            invert=self.state.invert, pipeline=self.state.pipeline)
        except Exception as exc:  # noqa: BLE001 -- shown as a dialog naming the file
            show_error(self.window, exc, "export")
            return None
        self.message.emit(f"Exported frame {index + 1} to {path}{self._edits_note()}")
        return path

    # -------------------------------------------------------------- cine
    def export_cine(self) -> None:
        """Ask for a range, rate, format and file, then export on a worker thread."""
        document = self.state.document
        if document is None:
            return
        fps = self._fps() if self._fps is not None else default_fps(document)
        dialog = ExportCineDialog(document.num_frames, fps, os.path.dirname(document.path), bool(self._edits_note()),
                                  self.window)
        if dialog.exec() == ExportCineDialog.DialogCode.Accepted:
            self.start_cine_export(dialog.request())
        dialog.deleteLater()

    def start_cine_export(self, request: CineRequest) -> Task:
        """Export `request` on a worker thread with a progress dialog (Cancel stops it, leaving no file)."""
        document = self.state.document
        state = self.state
        choice = state.choice if state.is_grey else None
        # A pipeline of its own: the view's keeps serving the UI thread meanwhile.
        pipeline = GreyPipeline.for_document(document) if state.is_grey else None
        dialog = QProgressDialog(f"Exporting {len(request.indices)} frames{self._edits_note()}…", "Cancel", 0,
                                 len(request.indices), self.window)
        dialog.setWindowTitle("Export Cine")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        self.progress_dialog = dialog

        def work(progress):
            return export_document(document, request.path, request.indices, choice=choice, invert=state.invert,
                                   fps=request.fps, progress=progress, pipeline=pipeline)

        task = run_in_background(work, on_success=self._on_cine_done, on_failure=self._on_cine_failed,
                                 on_progress=lambda done, _total: dialog.setValue(done), context=self)
        dialog.canceled.connect(task.cancel)
        self.task = task
        return task

    def _finish(self) -> None:
        self.task = None
        if self.progress_dialog is not None:
            self.progress_dialog.reset()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None

    def _on_cine_done(self, result) -> None:
        self._finish()
        self.message.emit(f"Exported {len(result.frames)} frames to {result.paths[0]}{self._edits_note()}")
        self.cine_finished.emit(result)

    def _on_cine_failed(self, exc: BaseException, _trace: str) -> None:
        self._finish()
        if isinstance(exc, Cancelled):
            self.message.emit("Export cancelled; nothing was written")
        else:
            show_error(self.window, exc, "export")
        self.cine_finished.emit(exc)
