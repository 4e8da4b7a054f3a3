"""De-identify ultrasound cine in one step: mask outside its regions, record no burned-in text.

Tools > Mask outside ultrasound regions… first shows what would be kept:
everything outside the Sequence of Ultrasound Regions is tinted on the image
(the exact mask the model will apply) and the regions are outlined. The
dialog says how many regions and frames; where the file says Burned In
Annotation YES it offers to record NO in the same journaled save (a
same-length in-place write). Apply switches to read/write mode if needed
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
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from viewer.model import DicomError
from viewer.ui.edit_overlay import overlay_item
from viewer.ui.error_dialog import show_error
from viewer.ui.image_view import ImageView
from viewer.ui.saving import TITLE, SaveController
from viewer.ui.viewer_state import ViewerState

MASKED_TINT = (255, 40, 40, 110)  # RGBA over the pixels that will be masked
REGION_OUTLINE = QColor(60, 220, 90)


def describe(regions: int, frames: int) -> str:
    """The dialog's headline."""
    return (f"Mask everything outside {regions} ultrasound region{'s' if regions != 1 else ''} "
            f"on all {frames} frame{'s' if frames != 1 else ''}")


class DeidentifyDialog(QDialog):
    """Mask outside the regions: Apply, Apply and Save, or Cancel.

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
        self.message = QLabel(describe(regions, frames) + ".\nThe tinted area will be set to 0; the outlined "
                              "regions are kept. You can undo it until you save.")
        self.message.setWordWrap(True)
        self.record_no = QCheckBox("Record Burned In Annotation: NO")
        self.record_no.setToolTip("The file says YES; write NO in the same save (same length, in place)")
        self.record_no.setChecked(burned_in_annotation == "YES")
        self.record_no.setVisible(burned_in_annotation == "YES")
        self.buttons = QDialogButtonBox()
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_save_button = self.buttons.addButton("Apply and Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.clicked.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.record_no)
        layout.addWidget(self.buttons)

    def _on_clicked(self, button) -> None:
        if button in (self.apply_button, self.apply_save_button):
            record_no = not self.record_no.isHidden() and self.record_no.isChecked()
            self.apply_requested.emit(record_no, button is self.apply_save_button)
            self.accept()
        else:
            self.reject()


class Deidentify(QObject):
    """The Tools menu command: preview, dialog, then the model's de-identification edits."""

    def __init__(self, state: ViewerState, view: ImageView, saver: SaveController, window: QWidget) -> None:
        super().__init__(window)
        self.state = state
        self.view = view
        self.saver = saver
        self.window = window
        self.dialog: DeidentifyDialog | None = None
        self.tint: pg.ImageItem | None = None
        self.outline = overlay_item(view.image_item, REGION_OUTLINE, z=16)
        state.document_changed.connect(lambda _document: self._close())

    def available(self) -> bool:
        document = self.state.document
        return document is not None and bool(document.ultrasound_regions)

    def start(self) -> None:
        """Show the preview and the dialog (non-blocking)."""
        document = self.state.document
        if not self.available() or self.dialog is not None:
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
            if record_no and document.burned_in_annotation == "YES":
                document.record_no_burned_in_annotation()
        except (DicomError, ValueError) as exc:
            show_error(self.window, exc, "de-identify")
            return False
        if save:
            self.saver.save()
        return True

    # --------------------------------------------------------------- preview
    def _show_preview(self, outside: np.ndarray, regions) -> None:
        tint = np.zeros(outside.shape + (4,), dtype=np.uint8)
        tint[outside] = MASKED_TINT
        self.tint = pg.ImageItem(tint, levels=(0, 255))
        self.tint.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.tint.setParentItem(self.view.image_item)
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
