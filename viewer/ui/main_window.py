"""The main window: one document, its image, frame and cine controls, tags and status.

It owns the view model (:class:`~viewer.model.view.ViewerModel`: document,
frame, window/level), its playback and read-ahead, and the widgets that
subscribe to them, opens documents on a worker thread (a
huge enhanced header can take seconds to parse) and turns every error into
a dialog.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from viewer.model import DicomError, Document, FileChangedError
from viewer.model.settings import Settings
from viewer.model.view import ReadAheadPolicy, ViewerModel
from viewer.ui.cine_controls import CineControls
from viewer.ui.cine_player import cine_player
from viewer.ui.deid_dialog import Deidentify
from viewer.ui.demo import DemoBuilder, demo_path
from viewer.ui.edit_controller import EditController
from viewer.ui.edit_overlay import EditOverlay
from viewer.ui.edit_panel import EditPanel, EditToolBar
from viewer.ui.error_dialog import show_error, show_message
from viewer.ui.export_actions import ExportActions
from viewer.ui.file_watch import FileWatch
from viewer.ui.frame_controls import FrameControls, navigation_target
from viewer.ui.help_menu import add_help_menu
from viewer.ui.main_menus import add_menus
from viewer.ui.image_view import ImageView
from viewer.ui.opening import Opener
from viewer.ui.qt_bridge import UiThreadCaller
from viewer.ui.saving import SaveController
from viewer.ui.settings_dialog import SettingsDialog
from viewer.ui.settings_store import SettingsStore
from viewer.ui.slide_host import SlideHost
from viewer.ui.status_bar import StatusBar
from viewer.ui.tag_browser import TagBrowser
from viewer.ui.window_level import WindowLevelControls

APP_NAME = "Cinemap"
TITLE_SEPARATOR = " — "
EMPTY_HINT = "Open a DICOM file (Ctrl+O) or drop it here"
SCREEN_SHARE = 0.9  # of the screen's available area, for a window opened the first time


def window_title(path: str | None, dirty: bool = False) -> str:
    """"<file name> — Cinemap" ("*<file name> — Cinemap" with unsaved edits), or "Cinemap" with no file."""
    return f"{'*' if dirty else ''}{os.path.basename(path)}{TITLE_SEPARATOR}{APP_NAME}" if path else APP_NAME


class MainWindow(QMainWindow):
    """Cinemap's main window.

    Signals
    -------
    document_opened(object)
        A :class:`~viewer.model.Document` is shown.
    open_failed(str, object)
        The path and the exception (already shown to the user as a dialog).
    """

    document_opened = Signal(object)
    open_failed = Signal(str, object)

    # Built by viewer.ui.main_menus.add_menus, which owns the menus' layout.
    open_action: QAction
    open_folder_action: QAction
    recent_menu: QMenu
    reopen_action: QAction
    close_action: QAction
    save_action: QAction
    revert_action: QAction
    demo_action: QAction
    fresh_demo_action: QAction
    undo_action: QAction
    redo_action: QAction
    write_action: QAction
    settings_action: QAction
    fit_action: QAction
    actual_size_action: QAction
    invert_action: QAction
    reset_window_action: QAction
    play_action: QAction
    play_modes: QActionGroup
    mask_regions_action: QAction
    mask_label_action: QAction

    def __init__(self, store: SettingsStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else SettingsStore()
        settings = self.store.settings
        # The document's events from a saving worker reach the model on this thread.
        self.state = ViewerModel(call_soon=UiThreadCaller(self).call_soon)
        self.player = cine_player(self.state, default_fps=settings.cine_default_fps, parent=self)
        self.read_ahead = ReadAheadPolicy(self.state, settings.read_ahead_frames, player=self.player)
        self.image_view = ImageView(self.state)
        self.frame_controls = FrameControls(self.state)
        self.cine_controls = CineControls(self.player)
        self.window_level = WindowLevelControls(self.state)
        self.tag_browser = TagBrowser(self.state, self)
        self.status = StatusBar(self.state, self.player, self)
        self.edit_tools = EditController(self.state, self)
        self.edit_overlay = EditOverlay(self.edit_tools, self.image_view, self)
        self.edit_toolbar = EditToolBar(self.edit_tools, self)
        self.edit_panel = EditPanel(self.edit_tools, self)
        self.saver = SaveController(self.state, self)
        self.deidentify = Deidentify(self.state, self.image_view, self.saver, self)
        self.exporter = ExportActions(self.state, self, fps=lambda: self.player.fps)
        self.file_watch = FileWatch(
            self.state, pause=self._pause_for_change, reload=self.reopen, close=self.close_document, parent=self
        )
        self._play_after_reload = False  # playback stopped by a change on disk resumes after Reload
        self.opener = Opener(self)
        self.opener.opened.connect(self._on_opened)
        self.opener.failed.connect(self._on_open_failed)
        self.slides = SlideHost(self)  # whole-slide images, shown instead of the image view
        self._frame_error_shown = False
        self._layout()
        add_menus(self)
        self.update_recent_menu(self.store.recent_files())
        self.update_document_actions()
        self._wire()
        self.help_menu = add_help_menu(self)  # last of the menus
        self.setAcceptDrops(True)
        self.setWindowTitle(window_title(None))
        self._restore_size()
        self.image_view.setFocus()

    def _restore_size(self) -> None:
        """The size the user left the window at; the first time, most of the screen."""
        geometry = self.store.window_geometry()
        if geometry is not None and self.restoreGeometry(geometry):
            return
        available = self.screen().availableGeometry()
        size = available.size() * SCREEN_SHARE
        self.resize(size)
        self.move(available.center() - self.rect().center())

    # ---------------------------------------------------------------- layout
    def _layout(self) -> None:
        bottom = QWidget()
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 2, 0, 2)
        row.addWidget(self.frame_controls, 1)
        row.addWidget(self.cine_controls)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.file_watch.bar)
        column.addLayout(self._image_with_hint(), 1)
        column.addWidget(bottom)
        self.setCentralWidget(central)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.tag_browser)
        self.tag_browser.hide()
        self.tag_browser.visibilityChanged.connect(self._size_tag_browser)
        self._tag_browser_sized = False
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.edit_panel)
        self.edit_panel.hide()  # shown on entering read/write mode
        self.setStatusBar(self.status)

    def _size_tag_browser(self, visible: bool) -> None:
        """The first time the tags are shown, open the dock as wide as its columns need (at most half the window)."""
        if visible and not self._tag_browser_sized and not self.tag_browser.isFloating():
            self._tag_browser_sized = True
            width = min(self.tag_browser.preferred_width(), self.width() // 2)
            self.resizeDocks([self.tag_browser], [width], Qt.Orientation.Horizontal)

    def _image_with_hint(self) -> QGridLayout:
        """The image, with "Open a DICOM file (Ctrl+O) or drop it here" over it while no file is open."""
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setObjectName("EmptyHint")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setStyleSheet("#EmptyHint { color: #c8c8c8; font-size: 15pt; }")  # on the view's black
        self.empty_hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # drops reach the window
        cell = QGridLayout()
        cell.addWidget(self.image_view, 0, 0)
        cell.addWidget(self.slides.view, 0, 0)
        cell.addWidget(self.empty_hint, 0, 0)
        return cell

    def _wire(self) -> None:
        self.image_view.wheel_frames.connect(self.state.step)
        self.player.playing_changed.connect(self.image_view.set_playing)
        self.image_view.frame_painted.connect(self.status.count_painted_frame)
        self.image_view.pixel_hovered.connect(self.status.show_pixel)
        self.image_view.frame_failed.connect(self._on_frame_failed)
        self.window_level.progress.connect(self.status.show_progress)
        self.exporter.message.connect(lambda text: self.status.showMessage(text, 8000))
        self.state.invert_changed.connect(self._sync_invert_action)
        self.state.mode_changed.connect(self._on_mode_changed)
        self.state.history_changed.connect(self._update_history_actions)
        self.edit_tools.failed.connect(lambda exc: show_error(self, exc, "edit"))
        self.edit_tools.applied.connect(lambda text: self.status.showMessage(text, 10000))
        self.saver.about_to_save.connect(self.player.pause)
        self.saver.saved.connect(lambda document: self.status.showMessage(f"Saved {os.path.basename(document.path)}", 5000))
        self.saver.reload_requested.connect(lambda _path: self.reopen())
        self.store.changed.connect(self._on_settings_changed)
        self.store.recent_changed.connect(self.update_recent_menu)

    # -------------------------------------------------------------- opening
    @property
    def document(self) -> Document | None:
        return self.state.document

    def choose_file(self) -> None:
        folder = os.path.dirname(self.document.path) if self.document is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open DICOM file", folder, "DICOM files (*.dcm *.dicom *);;All files (*)")
        if path:
            self.open_path(path)

    def choose_folder(self) -> None:
        """File > Open Folder: a whole-slide image's folder."""
        folder = os.path.dirname(self.document.path) if self.document is not None else ""
        path = QFileDialog.getExistingDirectory(self, "Open whole-slide image folder", folder)
        if path:
            self.open_path(path)

    def fit_view(self) -> None:
        (self.slides.view if self.slides.shown else self.image_view).fit()

    def actual_size_view(self) -> None:
        (self.slides.view if self.slides.shown else self.image_view).actual_size()

    def open_path(self, path: str, *, frame: int = 0, play: bool = False) -> None:
        """Open `path` on a worker thread; show it (on `frame`, playing if `play`), or an error dialog.

        Unsaved edits of the shown document are settled first (Save / Discard / Cancel).
        """
        path = os.fspath(path)
        if not self.saver.settle(f"opening {os.path.basename(path)}"):
            return
        self.opener.open(path, self.store.settings, frame=frame, play=play)

    def open_demo(self, fresh: bool = False) -> DemoBuilder | None:
        """Open the demo cine, writing it first if needed (or again if `fresh`); returns the builder.

        A demo shown in this window is closed before it is written again
        (its unsaved edits are settled first); None if the user kept it.
        """
        document = self.document
        if fresh and document is not None and os.path.abspath(document.path) == os.path.abspath(demo_path()):
            if not self.close_document():
                return None
        builder = DemoBuilder(self)
        builder.ready.connect(self.open_path)
        builder.failed.connect(lambda exc: show_error(self, exc, "write the demo file"))
        builder.start(fresh=fresh)
        return builder

    def _on_opened(self, document: Document, notes: list[str], request: dict) -> None:
        try:
            self.show_document(document)
        except Exception as exc:  # noqa: BLE001 -- a model bug must not leave a half-shown window
            self.show_document(None)
            document.close()
            show_error(self, exc, "show")
            self.open_failed.emit(document.path, exc)
            return
        if request.get("frame"):
            self.state.set_frame(request["frame"])
        if request.get("play"):
            self.player.play()
        self.store.add_recent_file(document.path)
        messages = notes + list(document.warnings)
        if document.recovery is not None:
            messages.append(document.recovery.message)  # the file is as it was before the interrupted save
        if messages:
            show_message(self, APP_NAME, f"Notes on {os.path.basename(document.path)}", "\n".join(messages), warning=True)
        self.document_opened.emit(document)

    def _on_open_failed(self, path: str, exc: BaseException) -> None:
        show_error(self, exc, "open")  # logs the traceback too
        self.open_failed.emit(path, exc)

    def show_document(self, document: Document | None) -> None:
        """Replace the shown document (closing the old one) by `document`."""
        old = self.state.document
        self.player.pause()
        self.read_ahead.stop()
        self.window_level.cancel()
        self._frame_error_shown = False
        self._play_after_reload = False
        if document is not None:
            self.slides.close()
        self.state.set_document(document)
        if old is not None and old is not document:
            old.close()
        self._update_title()
        self.setWindowFilePath(document.path if document is not None else "")
        self.update_document_actions()

    def reopen(self) -> None:
        """Open the current file again (new settings take effect), on the same frame, playing if it was."""
        if self.document is not None and self.saver.settle("reopening it"):
            play = self.player.playing or self._play_after_reload
            self.document.set_writable(False, discard=True)  # its edit lock would keep the new one read-only
            self.open_path(self.document.path, frame=self.state.frame_index, play=play)

    def _pause_for_change(self) -> None:
        """The file changed on disk: stop playing until Reload (which plays on)."""
        self._play_after_reload = self.player.playing
        self.player.pause()

    def close_document(self) -> bool:
        """Close the shown document; False if the user kept it to save edits."""
        document = self.document
        if document is None:
            self.slides.close()
            return True
        if not self.saver.settle("closing it"):
            return False
        self.show_document(None)
        return True

    # -------------------------------------------------------------- actions
    def update_document_actions(self) -> None:
        document = self.document
        has_document = document is not None
        playable = document is not None and document.num_frames > 1
        for action in (self.reopen_action, self.close_action, self.fit_action, self.actual_size_action,
                       self.invert_action, self.reset_window_action):
            action.setEnabled(has_document)
        self.play_action.setEnabled(playable)
        self.play_modes.setEnabled(playable)
        self.cine_controls.setEnabled(playable)
        self.empty_hint.setVisible(not has_document)
        # Enabled even when the file cannot be edited: trying says why, in a dialog.
        self.write_action.setEnabled(has_document)
        self.write_action.setToolTip(
            (document.edit_refusal() or "Switch to read/write mode") if document is not None else "No file open"
        )
        self.mask_regions_action.setEnabled(self.deidentify.available())
        self.slides.update_actions()
        self._on_mode_changed(document.writable if document is not None else False)

    def set_writable(self, writable: bool) -> None:
        document = self.document
        if document is None or document.writable == writable:
            return
        if not writable and not self.saver.settle("switching to read-only"):
            self._on_mode_changed(document.writable)
            return
        try:
            document.set_writable(writable)
        except DicomError as exc:
            show_error(self, exc, "edit")  # why it cannot be edited, or who holds the edit lock
            self._on_mode_changed(document.writable)

    def _on_mode_changed(self, writable: bool) -> None:
        self.write_action.blockSignals(True)
        self.write_action.setChecked(bool(writable))
        self.write_action.blockSignals(False)
        self._update_history_actions()

    def _update_history_actions(self) -> None:
        document = self.document
        self.undo_action.setEnabled(document is not None and document.can_undo)
        self.redo_action.setEnabled(document is not None and document.can_redo)
        # The model's labels read "Undo Brush", "Redo Mask region".
        self.undo_action.setText(f"&{document.undo_label}" if document is not None and document.can_undo else "&Undo")
        self.redo_action.setText(f"&{document.redo_label}" if document is not None and document.can_redo else "&Redo")
        dirty = document is not None and document.dirty
        self.save_action.setEnabled(dirty)
        self.revert_action.setEnabled(dirty)
        self._update_title()

    def _update_title(self) -> None:
        document = self.document
        self.setWindowTitle(window_title(document.path if document is not None else self.slides.title_path(),
                                         dirty=document is not None and document.dirty))

    def undo(self) -> None:
        if self.document is not None and self.document.can_undo:
            self.document.undo()

    def redo(self) -> None:
        if self.document is not None and self.document.can_redo:
            self.document.redo()

    def set_play_mode(self, mode: str) -> None:
        self.player.set_mode(mode)
        index = self.cine_controls.mode.findData(mode)
        self.cine_controls.mode.setCurrentIndex(index)

    def _sync_invert_action(self, invert: bool) -> None:
        self.invert_action.blockSignals(True)
        self.invert_action.setChecked(invert)
        self.invert_action.blockSignals(False)

    def _on_frame_failed(self, exc: BaseException) -> None:
        if isinstance(exc, FileChangedError):
            # The Reload/Close bar, once per change; reporting pauses (and remembers
            # to play on after Reload), so it must see the player still playing.
            self.file_watch.report_error(exc)
            self.player.pause()
            return
        self.player.pause()
        if not self._frame_error_shown:
            self._frame_error_shown = True
            show_error(self, exc, "show a frame of")

    # ------------------------------------------------------------- settings
    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.store.settings, can_reopen=self.document is not None, parent=self)
        reopen = []
        dialog.reopen_requested.connect(lambda: reopen.append(True))
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.store.save(dialog.settings())
            if reopen:
                self.reopen()
        dialog.deleteLater()

    def _on_settings_changed(self, settings: Settings, changed: list[str]) -> None:
        self.read_ahead.set_frames(settings.read_ahead_frames)
        self.player.set_default_fps(settings.cine_default_fps)

    def update_recent_menu(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for path in files:
            action = self.recent_menu.addAction(os.path.basename(path))
            action.setToolTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent Files", self.store.clear_recent_files)
        self.recent_menu.setEnabled(bool(files))

    # ------------------------------------------------------------ keys, drops
    def keyPressEvent(self, event) -> None:  # noqa: N802 -- Qt API
        target = navigation_target(event.key(), self.state.frame_index, self.state.num_frames)
        if target is None:
            super().keyPressEvent(event)
            return
        self.state.set_frame(target)
        event.accept()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 -- Qt API
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if not self.close_document():
            event.ignore()
            return
        self.player.pause()
        self.store.save_window_geometry(self.saveGeometry())
        super().closeEvent(event)
