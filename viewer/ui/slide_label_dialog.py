"""Tools > Mask Slide Label: preview, then black out the label (and a rectangle of the overview) in place.

The dialog shows the label with the area that will be black tinted (all of
it) and the overview, on which a rectangle may be drawn to black out too
(where the label shows on the overview photograph). "Mask in Place" runs
:func:`viewer.model.slide.label_mask.mask_slide_label` on a worker with a
progress dialog: every file is planned (decoded, re-encoded, checked to
fit) before any is written, and each write is journaled. The result says
what was done and what could not be (a compressed label that does not fit
in place, a header value left as it was), and never calls the slide
de-identified: the patient's data stays in every header.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from viewer.model.slide import label_mask
from viewer.ui.error_dialog import show_error, show_message
from viewer.ui.slide_tiles import tile_image
from viewer.ui.text_layout import style_help_text, wrapped_label
from viewer.ui.workers import run_in_background

TITLE = "Mask Slide Label"
TINT = QColor(255, 40, 40, 110)  # over what will be black
OUTLINE = QColor(255, 40, 40)
PREVIEW_HEIGHT = 200  # both previews this high (the overview is wide), at most PREVIEW_WIDTH wide
PREVIEW_WIDTH = 480
TEXT_WIDTH = 620
EXPLANATION = (
    "The label file is changed in place, through a journal: after a crash it holds all of its old bytes or all "
    "of its new ones. A compressed label is decoded, masked and compressed again into the same place; if it "
    "does not fit, nothing is written. Burned In Annotation and Specimen Label In Image become NO in the "
    "label's header where the new value fits in place."
)


class ImagePreview(QWidget):
    """An image scaled to fit, with a tinted rectangle (:attr:`marked`, in image pixels); drawable when `drawable`.

    Signals
    -------
    rect_changed(object)
        The rectangle drawn, as (x, y, width, height) in image pixels, or None.
    """

    rect_changed = Signal(object)

    def __init__(self, pixels: np.ndarray, drawable: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage = tile_image(pixels if pixels.ndim == 3 else pixels[:, :, None])
        self.drawable = drawable
        self.marked: tuple[int, int, int, int] | None = None
        self._anchor: tuple[int, int] | None = None
        scale = min(PREVIEW_HEIGHT / self.image.height(), PREVIEW_WIDTH / self.image.width())
        self.setFixedSize(max(40, round(self.image.width() * scale)), max(40, round(self.image.height() * scale)))
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        if drawable:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def set_rect(self, rect: tuple[int, int, int, int] | None) -> None:
        self.marked = rect
        self.update()
        self.rect_changed.emit(rect)

    def to_image(self, point: QPointF) -> tuple[int, int]:
        x = point.x() * self.image.width() / self.width()
        y = point.y() * self.image.height() / self.height()
        return (int(min(max(x, 0), self.image.width())), int(min(max(y, 0), self.image.height())))

    def paintEvent(self, _event) -> None:  # noqa: N802 -- Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(0, 0, self.width(), self.height()), self.image)
        if self.marked is not None:
            x, y, w, h = self.marked
            sx, sy = self.width() / self.image.width(), self.height() / self.image.height()
            shown = QRectF(x * sx, y * sy, w * sx, h * sy)
            painter.fillRect(shown, TINT)
            painter.setPen(QPen(OUTLINE, 2))
            painter.drawRect(shown.adjusted(1, 1, -1, -1))
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if self.drawable and event.button() == Qt.MouseButton.LeftButton:
            self._anchor = self.to_image(event.position())
            event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if self._anchor is not None:
            self._drag_to(event.position())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if self._anchor is not None:
            self._drag_to(event.position())
            self._anchor = None

    def _drag_to(self, point: QPointF) -> None:
        if self._anchor is None:
            return
        (x0, y0), (x1, y1) = self._anchor, self.to_image(point)
        rect = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
        self.set_rect(rect if rect[2] > 0 and rect[3] > 0 else None)


class MaskLabelDialog(QDialog):
    """The preview and the choice; :attr:`overview_rect` is the rectangle to black out on the overview, if any."""

    def __init__(self, images: dict[str, np.ndarray], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MaskLabelDialog")
        self.setWindowTitle(TITLE)
        headline = wrapped_label("Black out the slide's label image, in place", TEXT_WIDTH)
        font = headline.font()
        font.setBold(True)
        headline.setFont(font)
        grid = QGridLayout()
        label = images["LABEL"]
        self.label_preview = ImagePreview(label)
        self.label_preview.set_rect((0, 0, label.shape[1], label.shape[0]))  # all of it
        grid.addWidget(QLabel("Label: all of it will be black"), 0, 0)
        grid.addWidget(self.label_preview, 1, 0, Qt.AlignmentFlag.AlignTop)
        self.overview_preview: ImagePreview | None = None
        self.include_overview = QCheckBox("Also black out the rectangle drawn on the overview")
        self.include_overview.setEnabled(False)
        if "OVERVIEW" in images:
            self.overview_preview = ImagePreview(images["OVERVIEW"], drawable=True)
            self.overview_preview.rect_changed.connect(self._on_overview_rect)
            clear = QPushButton("Clear Rectangle")
            clear.clicked.connect(lambda: self.overview_preview.set_rect(None))
            grid.addWidget(QLabel("Overview: drag a rectangle over the label to black it out too"), 0, 1)
            grid.addWidget(self.overview_preview, 1, 1, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(clear, 2, 1, Qt.AlignmentFlag.AlignLeft)
        explanation = style_help_text(wrapped_label(EXPLANATION, TEXT_WIDTH))
        warning = wrapped_label(label_mask.NOT_DEIDENTIFIED, TEXT_WIDTH)
        self.buttons = QDialogButtonBox()
        self.mask_button = self.buttons.addButton("Mask in Place", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(headline)
        layout.addLayout(grid)
        for widget in (self.include_overview, warning, explanation, self.buttons):
            layout.addWidget(widget)

    def _on_overview_rect(self, rect) -> None:
        self.include_overview.setEnabled(rect is not None)
        self.include_overview.setChecked(rect is not None)

    @property
    def overview_rect(self) -> tuple[int, int, int, int] | None:
        if self.overview_preview is None or not self.include_overview.isChecked():
            return None
        return self.overview_preview.marked


class SlideLabelMasker(QObject):
    """The Tools menu command for the slide shown: read the images, preview, mask on a worker, report.

    Signals
    -------
    finished(object)
        The :class:`~viewer.model.slide.label_mask.SlideMaskReport` (after the result message is shown).
    """

    finished = Signal(object)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: MaskLabelDialog | None = None
        self.progress: QProgressDialog | None = None
        self.busy = False

    def start(self, folder: str) -> None:
        """Read the label and overview off the UI thread, then show the preview (non-blocking)."""
        if self.busy or self.dialog is not None:
            return
        self.busy = True
        run_in_background(lambda _progress: label_mask.associated_images(folder),
                          on_success=lambda images: self._preview(folder, images),
                          on_failure=lambda exc, _trace: self._failed(exc), context=self)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        show_error(self.window, exc, "mask the label of")

    def _preview(self, folder: str, images: dict) -> None:
        self.busy = False
        if "LABEL" not in images:
            show_message(self.window, TITLE, "This slide has no label image", "Nothing was written.", warning=True)
            return
        self.dialog = MaskLabelDialog(images, self.window)
        self.dialog.accepted.connect(lambda: self.mask(folder, self.dialog.overview_rect))
        self.dialog.finished.connect(self._close_dialog)
        self.dialog.open()

    def _close_dialog(self, _result=None) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def mask(self, folder: str, overview_rect: tuple[int, int, int, int] | None) -> None:
        """Black out the label (and `overview_rect` of the overview) on a worker, with progress."""
        self.busy = True
        progress = QProgressDialog("Preparing…", "", 0, 0, self.window)
        progress.setObjectName("MaskLabelProgress")
        progress.setWindowTitle(TITLE)
        progress.setCancelButton(None)  # a journaled write is not stopped half-way
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.show()
        self.progress = progress
        relay = _ProgressRelay(self)
        relay.message.connect(lambda text: progress.setLabelText(text[:1].upper() + text[1:] + "…"))
        run_in_background(
            lambda _progress: label_mask.mask_slide_label(folder, overview_rect=overview_rect,
                                                          progress=relay.message.emit),
            on_success=self._done, on_failure=lambda exc, _trace: self._mask_failed(exc), context=self)

    def _end_progress(self) -> None:
        self.busy = False
        if self.progress is not None:
            self.progress.reset()
            self.progress.deleteLater()
            self.progress = None

    def _mask_failed(self, exc: BaseException) -> None:
        self._end_progress()
        show_error(self.window, exc, "mask the label of")

    def _done(self, report) -> None:
        self._end_progress()
        headline, lines = label_mask.summary(report)
        show_message(self.window, TITLE, headline, "\n\n".join(lines), warning=True)
        self.finished.emit(report)


class _ProgressRelay(QObject):
    """Carries the masking's progress messages from the worker to the UI thread."""

    message = Signal(str)
