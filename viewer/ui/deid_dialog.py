"""De-identify ultrasound cine in one step: mask outside its regions, record no burned-in text.

Tools > Mask outside ultrasound regions… first shows what would be kept:
everything outside the Sequence of Ultrasound Regions is tinted on the image
(the exact mask the model will apply) and the regions are outlined. The
dialog says how many regions and frames, and that text inside the kept
regions stays; where the file says Burned In Annotation YES it offers,
unticked, to record NO in the same journaled save (a same-length in-place
write), and otherwise says why it cannot. Apply switches to read/write mode if needed
(after asking) and queues both edits; "Apply and Save" also saves them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from viewer.model import DicomError
from viewer.ui.edit_overlay import overlay_item
from viewer.ui.error_dialog import show_error, show_message
from viewer.ui.image_view import ImageView
from viewer.ui.saving import TITLE, SaveController
from viewer.ui.text_layout import fit_wrapped, style_help_text, wrapped_label
from viewer.model.view import ViewerModel

MASKED_TINT = (255, 40, 40, 110)  # RGBA over the pixels that will be masked
REGION_OUTLINE = QColor(60, 220, 90)
DIALOG_TEXT_WIDTH = 440


def describe(regions: int, frames: int) -> str:
    """The dialog's headline."""
    return (f"Mask everything outside {regions} ultrasound region{'s' if regions != 1 else ''} "
            f"on all {frames} frame{'s' if frames != 1 else ''}")


KEPT_TEXT_WARNING = (
    "The tinted area will be set to black; the outlined regions are kept as they are. Text burned into the "
    "kept regions (labels, measurements, a heart rate) stays: look for it in the preview. You can undo the "
    "masking until you save."
)
RECORD_NO_HELP = (
    "Tick only if no text is left anywhere in the image, the kept regions included: a wrong NO tells the next "
    "reader that the image is free of patient information. Written in the same save, in place."
)


def burned_in_note(burned_in_annotation: str) -> str:
    """Why Burned In Annotation NO cannot be offered for a file whose value is `burned_in_annotation` ('' if none)."""
    if burned_in_annotation == "NO":
        return ("The file already records Burned In Annotation: NO. Check that no text is left in the kept "
                "regions, or the file claims more than is true.")
    if not burned_in_annotation:
        return ("Burned In Annotation cannot be recorded for this file: it has no Burned In Annotation element, "
                "and Cinemap writes only in place, without changing the file's length. Set it with a DICOM "
                "editor after checking that no text is left.")
    return (f"Burned In Annotation is {burned_in_annotation!r} in this file, which Cinemap cannot change in place "
            "to NO.")


class DeidentifyDialog(QDialog):
    """Mask outside the regions: Apply, Apply and Save, or Cancel.

    Recording Burned In Annotation NO is offered, unticked, only where the
    file says YES (a same-length write in place); otherwise the dialog says
    why it cannot be recorded.

    Signals
    -------
    apply_requested(bool, bool)
        (record Burned In Annotation NO, save afterwards).
    """

    apply_requested = Signal(bool, bool)

    def __init__(self, regions: int, frames: int, burned_in_annotation: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DeidentifyDialog")
        self.setWindowTitle("Mask outside ultrasound regions")
        self.message = wrapped_label(describe(regions, frames) + ".", DIALOG_TEXT_WIDTH)
        font = self.message.font()
        font.setBold(True)
        self.message.setFont(font)
        fit_wrapped(self.message, DIALOG_TEXT_WIDTH)
        self.warning = wrapped_label(KEPT_TEXT_WARNING, DIALOG_TEXT_WIDTH)
        offered = burned_in_annotation == "YES"
        self.record_no = QCheckBox("Record Burned In Annotation: NO")
        self.record_no.setToolTip("The file says YES; write NO in the same save (same length, in place)")
        self.record_no.setChecked(False)  # never by default: a false NO is worse than none
        self.record_no.setVisible(offered)
        self.record_note = style_help_text(
            wrapped_label(RECORD_NO_HELP if offered else burned_in_note(burned_in_annotation), DIALOG_TEXT_WIDTH))
        self.record_note.setObjectName("BurnedInNote")
        self.buttons = QDialogButtonBox()
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_save_button = self.buttons.addButton("Apply and Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.clicked.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        for widget in (self.message, self.warning, self.record_no, self.record_note, self.buttons):
            layout.addWidget(widget)

    def _on_clicked(self, button) -> None:
        if button in (self.apply_button, self.apply_save_button):
            record_no = not self.record_no.isHidden() and self.record_no.isChecked()
            self.apply_requested.emit(record_no, button is self.apply_save_button)
            self.accept()
        else:
            self.reject()


class Deidentify(QObject):
    """The Tools menu command: preview, dialog, then the model's de-identification edits."""

    def __init__(self, state: ViewerModel, view: ImageView, saver: SaveController, window: QWidget) -> None:
        super().__init__(window)
        self.state = state
        self.view = view
        self.saver = saver
        self.window = window
        self.dialog: DeidentifyDialog | None = None
        self.tint: pg.ImageItem | None = None
        self.outline = overlay_item(view.frame_item, REGION_OUTLINE, z=16)
        state.document_changed.connect(lambda _document: self._close())

    def available(self) -> bool:
        document = self.state.document
        return document is not None and bool(document.ultrasound_regions)

    def start(self) -> None:
        """Show the preview and the dialog (non-blocking)."""
        document = self.state.document
        if document is None or not self.available() or self.dialog is not None:
            return
        regions = document.ultrasound_regions
        self._show_preview(document.outside_regions_mask(), regions)
        self.dialog = DeidentifyDialog(len(regions), document.num_frames, document.burned_in_annotation, self.window)
        self.dialog.apply_requested.connect(self.apply)
        self.dialog.finished.connect(lambda _result: self._close())
        self.dialog.open()

    def apply(self, record_no: bool, save: bool) -> bool:
        """Queue the masking on all frames (and Burned In Annotation NO); save if asked."""
        document = self.state.document
        if document is None:
            return False
        try:
            if not document.writable:
                answer = QMessageBox.question(
                    self.window, TITLE, "Masking edits the file. Switch to read/write mode?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Yes,
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return False
                document.set_writable(True)
            document.mask_outside_ultrasound_regions()
            recorded = record_no and document.record_no_burned_in_annotation()
        except (DicomError, ValueError) as exc:
            show_error(self.window, exc, "de-identify")
            return False
        if record_no and not recorded:
            # Never let the user believe NO was recorded when it was not.
            show_message(self.window, TITLE, "Burned In Annotation was not recorded",
                         "The masking is queued, but Burned In Annotation NO could not be written in place "
                         "for this file; it still says YES.", warning=True)
        if save:
            self.saver.save()
        return True

    # --------------------------------------------------------------- preview
    def _show_preview(self, outside: np.ndarray, regions) -> None:
        tint = np.zeros(outside.shape + (4,), dtype=np.uint8)
        tint[outside] = MASKED_TINT
        self.tint = pg.ImageItem(tint, levels=(0, 255))
        self.tint.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.tint.setParentItem(self.view.frame_item)
        self.tint.setZValue(15)
        path = QPainterPath()
        for region in regions:
            path.addRect(QRectF(region.x0, region.y0, region.x1 - region.x0 + 1, region.y1 - region.y0 + 1))
        self.outline.setPath(path)

    def _close(self) -> None:
        if self.tint is not None:
            self.tint.setParentItem(None)
            if self.tint.scene() is not None:
                self.tint.scene().removeItem(self.tint)
            self.tint = None
        self.outline.setPath(QPainterPath())
        if self.dialog is not None:
            dialog, self.dialog = self.dialog, None
            dialog.close()
            dialog.deleteLater()

    @property
    def previewing(self) -> bool:
        return self.tint is not None
