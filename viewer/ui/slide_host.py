"""The main window's whole-slide side: show a slide in place of the image view, close it, mask its label.

The window's opener hands a :class:`~viewer.model.Slide` here
(:attr:`viewer.ui.opening.Opener.slide_opened`) when the path was a folder
or a VL Whole Slide Microscopy file. :class:`SlideHost` closes the document
shown (after its unsaved edits are settled, as for any open), shows the
slide's :class:`~viewer.ui.slide_view.SlideView` where the image was, and
keeps the window's title, actions and status bar readout in step. Opening
a document closes the slide again.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal

from viewer.model import Slide

from viewer.ui.error_dialog import show_error, show_message
from viewer.ui.slide_label_dialog import SlideLabelMasker
from viewer.ui.slide_view import SlideView

APP_NAME = "Cinemap"


class SlideHost(QObject):
    """Shows at most one slide in `window` (a :class:`~viewer.ui.main_window.MainWindow`).

    Signals
    -------
    slide_opened(object)
        A :class:`~viewer.model.Slide` is shown.
    """

    slide_opened = Signal(object)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.slide: Slide | None = None
        self.path: str | None = None
        self.view = SlideView()
        self.view.hide()
        self.view.failed.connect(lambda exc: show_error(window, exc, "show a tile of"))
        self.view.pixel_text.connect(window.status.pixel.setText)
        self.masker = SlideLabelMasker(window)
        self._hidden: list = []  # the window's frame and edit widgets hidden while a slide shows
        window.opener.slide_opened.connect(self.show_slide)

    @property
    def shown(self) -> bool:
        return self.slide is not None

    def show_slide(self, slide, path: str, notes: list[str] | None = None) -> None:
        """Show `slide` (opened from `path`) instead of the document or slide shown, which is closed."""
        window = self.window
        if window.document is not None:
            window.show_document(None)  # the opener settled its edits before opening
        old = self.slide
        self.slide, self.path = slide, path
        window.image_view.hide()
        if not self._hidden:  # frames, cine and edit tools mean nothing for a slide
            self._hidden = [widget for widget in (window.frame_controls, window.cine_controls, window.edit_toolbar)
                            if not widget.isHidden()]
            for widget in self._hidden:
                widget.hide()
        self.view.show()
        self.view.set_slide(slide)
        if old is not None and old is not slide:
            old.close()
        window.store.add_recent_file(path)
        window.update_document_actions()
        if notes:
            show_message(window, APP_NAME, f"Notes on {os.path.basename(path)}", "\n".join(notes), warning=True)
        self.slide_opened.emit(slide)

    def close(self) -> bool:
        """Close the slide shown; False if there was none."""
        slide = self.slide
        if slide is None:
            return False
        self.view.set_slide(None)  # stops its reading threads first
        self.slide = self.path = None
        slide.close()
        self.view.hide()
        self.window.image_view.show()
        for widget in self._hidden:
            widget.show()
        self._hidden = []
        self.window.status.pixel.setText("")
        self.window.update_document_actions()
        return True

    def update_actions(self) -> None:
        """After the window set its actions for the document: those a slide also uses."""
        window = self.window
        slide = self.slide
        shown = slide is not None
        if shown:
            for action in (window.close_action, window.fit_action, window.actual_size_action):
                action.setEnabled(True)
            window.empty_hint.hide()
        window.mask_label_action.setEnabled(slide is not None and "LABEL" in slide.associated
                                            and not self.masker.busy)

    def title_path(self) -> str | None:
        return self.path

    def mask_label(self) -> None:
        """Tools > Mask Slide Label: preview, then mask on a worker."""
        if self.slide is not None and "LABEL" in self.slide.associated:
            self.masker.start(self.slide.associated["LABEL"].path)  # its series, even in a folder of several
