"""Saving edits, reverting them, and asking before they would be lost.

:class:`SaveController` runs :meth:`Document.save` on a worker thread: the
journaled write of thousands of frames takes seconds. A window-modal busy
dialog is up for the whole save, so that nothing can edit the document
while the worker writes it (the edit session is not thread-safe); it says
which step the save is in (original frames copied to the journal, then the
edited frames written) and how many frames of how many. When the
save fails the model leaves the file as it was and the edits pending; the
user sees the model's message and can try again. A file changed on disk by
another program cannot be saved over: the user is offered to reload it.

:meth:`SaveController.settle` is what closing, quitting, opening another
file and leaving read/write mode call first: with unsaved edits it asks
Save / Discard / Cancel.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QProgressBar, QProgressDialog, QWidget

from viewer.model import DicomError, Document, FileChangedError
from viewer.ui.error_dialog import show_error, write_log
from viewer.model.view import ViewerModel
from viewer.ui.workers import Cancelled, Task, run_in_background

TITLE = "Cinemap"
SAVE_DIALOG_MIN_WIDTH = 420
SAVE_SAFETY_NOTE = "If anything stops the save, the next open puts the file back as it was."
_WIDEST_FRAME_COUNT = 88_888_888  # sizes the dialog for any count a file can have


def ask_unsaved(parent: QWidget | None, name: str, doing: str) -> QMessageBox.StandardButton:
    """Save, Discard or Cancel for the unsaved edits of file `name` before `doing`."""
    buttons = QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
    return QMessageBox.question(parent, TITLE, f"{name} has unsaved edits. Save them before {doing}?", buttons,
                                QMessageBox.StandardButton.Save)


class SaveController(QObject):
    """Save and revert the state's document; settle unsaved edits before they would be lost.

    Signals
    -------
    about_to_save()
        A save starts (the window pauses playback).
    saved(object)
        The document was saved.
    save_failed(object)
        The exception (already shown to the user).
    reload_requested(str)
        The user chose to reload the file after it changed on disk (its edits were dropped).
    """

    about_to_save = Signal()
    saved = Signal(object)
    save_failed = Signal(object)
    reload_requested = Signal(str)
    _finished = Signal()

    def __init__(self, state: ViewerModel, window: QWidget) -> None:
        super().__init__(window)
        self.state = state
        self.window = window
        self._task: Task | None = None
        self._dialog: SaveProgressDialog | None = None
        self._succeeded = False

    @property
    def saving(self) -> bool:
        return self._task is not None

    # ------------------------------------------------------------------ save
    def save(self, *, wait: bool = False) -> bool:
        """Start saving the pending edits; with `wait`, return once done.

        Returns
        -------
        bool
            With `wait`: True if the edits are in the file. Without: True if
            a save started (or there was nothing to save).
        """
        document = self.state.document
        if self._task is not None or document is None:
            return False
        if not document.dirty:
            return True
        self.about_to_save.emit()
        self._succeeded = False
        self._dialog = self._busy_dialog(os.path.basename(document.path))
        self._task = run_in_background(
            lambda progress: document.save(progress=_never_cancelled(progress)),
            on_success=lambda _result: self._on_done(document, None, ""),
            on_failure=lambda exc, trace: self._on_done(document, exc, trace),
            on_progress=self._show_progress,
            context=self,
        )
        if not wait:
            return True
        loop = QEventLoop()
        self._finished.connect(loop.quit)
        if self._task is not None:
            loop.exec()
        self._finished.disconnect(loop.quit)
        return self._succeeded

    def _busy_dialog(self, name: str) -> SaveProgressDialog:
        # Shown at once, not after a delay: while it is up nothing can edit
        # the document the worker is writing.
        return save_progress_dialog(self.window, name)

    def _show_progress(self, done: int, total: int) -> None:
        if self._dialog is not None:
            self._dialog.show_progress(done, total)

    def _on_done(self, document: Document, exc: BaseException | None, trace: str) -> None:
        self._task = None
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog.deleteLater()
            self._dialog = None
        self._succeeded = exc is None
        if exc is None:
            self.saved.emit(document)
        else:
            self._report(document, exc, trace)
            self.save_failed.emit(exc)
        self._finished.emit()

    def _report(self, document: Document, exc: BaseException, trace: str) -> None:
        if isinstance(exc, FileChangedError):
            self._offer_reload(document, exc)
            return
        if not isinstance(exc, DicomError):
            write_log(trace)
        show_error(self.window, exc, "save")

    def _offer_reload(self, document: Document, exc: FileChangedError) -> None:
        box = QMessageBox(self.window)
        box.setObjectName("ReloadAfterChange")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(TITLE)
        box.setText(f"Cannot save {os.path.basename(document.path)}: it changed on disk")
        box.setInformativeText(f"{exc.problem}\n\nReload the file as it is on disk? Your unsaved edits will be lost.")
        reload_button = box.addButton("Reload", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Keep Edits", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def on_clicked(button) -> None:
            if button is reload_button and self.state.document is document:
                document.revert()
                self.reload_requested.emit(document.path)

        box.buttonClicked.connect(on_clicked)
        box.open()

    # ---------------------------------------------------------------- revert
    def revert(self) -> bool:
        """Drop every unsaved edit after asking; True if they were dropped."""
        document = self.state.document
        if document is None or not document.dirty or self._task is not None:
            return False
        answer = QMessageBox.question(
            self.window, TITLE, f"Discard all unsaved edits to {os.path.basename(document.path)}?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Discard:
            return False
        document.revert()
        return True

    # ---------------------------------------------------------------- settle
    def settle(self, doing: str) -> bool:
        """Before `doing` ("closing it"), deal with unsaved edits: True if the caller may go on.

        Asks Save / Discard / Cancel when the document has unsaved edits
        (Discard / Cancel if the file changed on disk: it cannot be saved).
        Save returns once saved (False if saving failed); Discard drops the
        edits; Cancel returns False. Never goes on while a save is running.
        """
        if self._task is not None:
            return False
        document = self.state.document
        if document is None or not document.dirty:
            return True
        name = os.path.basename(document.path)
        if document.changed_on_disk:
            # The model will not save over another program's change: offer only what can be done.
            answer = QMessageBox.question(
                self.window, TITLE, f"{name} changed on disk, so its unsaved edits cannot be saved. Discard them?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
            )
        else:
            answer = ask_unsaved(self.window, name, doing)
        if answer == QMessageBox.StandardButton.Save:
            return self.save(wait=True)
        if answer == QMessageBox.StandardButton.Discard:
            document.revert()
            return True
        return False


def save_progress_text(name: str, done: int, total: int) -> str:
    """What the Save dialog says: which of the two steps, and how many frames of how many.

    `done` and `total` count each edited frame twice (journaled, then
    written), as :meth:`~viewer.model.Document.save` reports them.
    """
    frames = total // 2
    if frames <= 0:
        step = "Preparing…"
    elif done < frames:
        step = f"Step 1 of 2: copying the original frames to the journal, {done:,} of {frames:,}"
    else:
        step = f"Step 2 of 2: writing the edited frames, {min(done - frames, frames):,} of {frames:,}"
    return f"Saving {name}\n{step}\n{SAVE_SAFETY_NOTE}"


class SaveProgressDialog(QProgressDialog):
    """The window-modal Save dialog: the step and frame counts above a bar without text."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("SaveProgress")
        self.setWindowTitle(TITLE)
        self._bar = QProgressBar(self)
        self._bar.setTextVisible(False)  # the label says how far; a percentage drawn on the bar overlapped it
        self.setBar(self._bar)
        self.setCancelButton(None)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setRange(0, 0)
        # As wide as the longest step text, so the label never changes the dialog's size.
        self.setLabelText(save_progress_text(name, 0, 2 * _WIDEST_FRAME_COUNT))
        self.setMinimumWidth(max(self.sizeHint().width(), SAVE_DIALOG_MIN_WIDTH))
        self.setLabelText(save_progress_text(name, 0, 0))

    def show_progress(self, done: int, total: int) -> None:
        """Frames journaled and written so far, of twice the edited frames.

        The bar is set directly, not through ``QProgressDialog.setValue``: on a
        modal dialog that runs the event loop, which can deliver the end of
        the save and delete this dialog while it is still in ``setValue``
        (a crash seen on a loaded machine).
        """
        self.setLabelText(save_progress_text(self.name, done, total))
        if total > 0:
            self._bar.setRange(0, total)
            self._bar.setValue(min(done, total - 1))


def save_progress_dialog(window: QWidget, name: str) -> SaveProgressDialog:
    """Open the Save dialog for file `name` over `window`."""
    dialog = SaveProgressDialog(name, window)
    dialog.open()
    return dialog


def _never_cancelled(progress):
    """`progress` without its :class:`Cancelled`: a save, once started, finishes (or rolls back) on its own.

    The task's progress raises Cancelled when its window is gone; stopping a
    save midway for that would only turn it into a rollback.
    """

    def report(done: int, total: int) -> None:
        try:
            progress(done, total)
        except Cancelled:
            pass

    return report

