"""Whole-slide images in the main window: every way of opening one, closing it, and masking its label."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from viewer.cli import path_problem  # noqa: E402
from viewer.model.slide import label_mask  # noqa: E402
from viewer.synthetic.slide import write_slide  # noqa: E402
from viewer.ui.slide_label_dialog import MaskLabelDialog  # noqa: E402

from conftest import EVENT_TIMEOUT_MS, open_and_wait  # noqa: E402


@pytest.fixture
def slide_files(tmp_path):
    return write_slide(tmp_path / "slide", width=1200, height=900, levels=3, compression="jpeg")


def open_slide_and_wait(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.slides.slide_opened, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(path))
    qtbot.waitUntil(lambda: window.slides.view.on_screen, timeout=EVENT_TIMEOUT_MS)


def visible_boxes(window) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_a_slide_folder_opens_in_the_window(qtbot, window, slide_files):
    open_slide_and_wait(qtbot, window, slide_files.folder)
    slides = window.slides
    assert slides.shown and slides.view.isVisible() and not window.image_view.isVisible()
    assert window.windowTitle() == "slide — Cinemap"
    assert window.fit_action.isEnabled() and window.close_action.isEnabled() and window.mask_label_action.isEnabled()
    assert not window.empty_hint.isVisible() and not window.frame_controls.isVisible()
    assert os.path.abspath(slides.path) in window.store.recent_files()
    assert slides.view.tiles.painted > 0
    slides.view.view_box.scaleBy((0.25, 0.25))
    window.fit_action.trigger()
    qtbot.waitUntil(lambda: slides.view.complete, timeout=EVENT_TIMEOUT_MS)
    x0, y0, x1, y1 = slides.view.visible_rect()
    assert x0 <= 0 and y0 <= 0 and x1 >= 1200 and y1 >= 900 and min(x1 - x0 - 1200, y1 - y0 - 900) < 1
    window.close_action.trigger()
    assert not slides.shown and slides.slide is None and window.image_view.isVisible()
    assert window.empty_hint.isVisible() and window.frame_controls.isVisible() and window.windowTitle() == "Cinemap"
    assert not window.mask_label_action.isEnabled()


def test_a_file_of_the_slide_or_a_drop_opens_the_slide(qtbot, window, slide_files):
    open_slide_and_wait(qtbot, window, slide_files.levels[1][0])
    assert window.slides.slide.levels[0].size == (1200, 900)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(slide_files.folder)])
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    old = window.slides.slide
    with qtbot.waitSignal(window.slides.slide_opened, timeout=EVENT_TIMEOUT_MS):
        window.dropEvent(drop)
    assert window.slides.slide is not old and old.closed


def test_a_document_replaces_the_slide_and_the_other_way_round(qtbot, window, slide_files, cine_path):
    open_slide_and_wait(qtbot, window, slide_files.folder)
    slide = window.slides.slide
    open_and_wait(qtbot, window, cine_path)
    assert slide.closed and not window.slides.shown and window.image_view.isVisible()
    assert window.frame_controls.isVisible() and window.windowTitle() == "cine.dcm — Cinemap"
    document = window.document
    open_slide_and_wait(qtbot, window, slide_files.folder)
    assert window.document is None and document.closed and window.windowTitle() == "slide — Cinemap"


def test_a_folder_without_a_slide_says_so(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.open_failed, timeout=EVENT_TIMEOUT_MS) as failed:
        window.open_path(str(tmp_path))
    assert "no whole-slide image in this folder" in str(failed.args[1])
    qtbot.waitUntil(lambda: bool(visible_boxes(window)), timeout=EVENT_TIMEOUT_MS)
    assert "holds no whole-slide image" in visible_boxes(window)[0].informativeText()


def test_cinemap_opens_a_slide_folder(qtbot, slide_files, tmp_path):
    from viewer.app import start

    assert path_problem(slide_files.folder) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert path_problem(str(empty)) == f"{empty}: is a folder without a whole-slide image"
    _app, windows = start([slide_files.folder])
    for other in windows:
        qtbot.addWidget(other)
    qtbot.waitUntil(lambda: windows[0].slides.shown and windows[0].slides.view.complete, timeout=EVENT_TIMEOUT_MS)
    windows[0].close_document()


def test_mask_label_previews_then_blacks_out_the_label_in_the_file(qtbot, window, slide_files):
    open_slide_and_wait(qtbot, window, slide_files.folder)
    before = label_mask.associated_images(slide_files.folder)
    assert before["LABEL"].max() > 0
    masker = window.slides.masker
    window.mask_label_action.trigger()
    qtbot.waitUntil(lambda: masker.dialog is not None and masker.dialog.isVisible(), timeout=EVENT_TIMEOUT_MS)
    dialog: MaskLabelDialog = masker.dialog
    label = dialog.label_preview
    assert label.marked == (0, 0, before["LABEL"].shape[1], before["LABEL"].shape[0])  # all of it is tinted
    assert dialog.overview_rect is None and not dialog.include_overview.isEnabled()
    overview = dialog.overview_preview
    from PySide6.QtTest import QTest

    QTest.mousePress(overview, Qt.MouseButton.LeftButton, pos=overview.rect().topLeft() + QPointF(2, 2).toPoint())
    QTest.mouseMove(overview, overview.rect().center())
    QTest.mouseRelease(overview, Qt.MouseButton.LeftButton, pos=overview.rect().center())
    rect = dialog.overview_rect
    assert rect is not None and dialog.include_overview.isChecked() and rect[2] > 10 and rect[3] > 10
    with qtbot.waitSignal(masker.finished, timeout=EVENT_TIMEOUT_MS) as finished:
        dialog.mask_button.click()
    report = finished.args[0]
    assert report.ok, report
    after = label_mask.associated_images(slide_files.folder)
    assert after["LABEL"].max() == 0
    x, y, w, h = rect
    inner = after["OVERVIEW"][y + 8:y + h - 8, x + 8:x + w - 8]  # JPEG blocks across the rectangle's edge
    assert inner.size and inner.max() <= 40
    outside = (slice(y + h + 16, None), slice(None))
    np.testing.assert_allclose(after["OVERVIEW"][outside], before["OVERVIEW"][outside], atol=40)
    (box,) = visible_boxes(window)
    assert box.text() == "<b>The label was blacked out and a rectangle of the overview was blacked out</b>"
    assert label_mask.NOT_DEIDENTIFIED in box.informativeText()
    assert window.slides.shown and window.slides.view.complete  # the pyramid was not touched


def test_mask_label_says_when_nothing_could_be_written(qtbot, window, slide_files, monkeypatch):
    open_slide_and_wait(qtbot, window, slide_files.folder)
    monkeypatch.setattr(label_mask, "_encode_like", lambda header, tile: bytes(10 << 20))  # can never fit
    before = open(slide_files.label, "rb").read()
    masker = window.slides.masker
    window.mask_label_action.trigger()
    qtbot.waitUntil(lambda: masker.dialog is not None, timeout=EVENT_TIMEOUT_MS)
    with qtbot.waitSignal(masker.finished, timeout=EVENT_TIMEOUT_MS):
        masker.dialog.mask_button.click()
    assert open(slide_files.label, "rb").read() == before
    (box,) = visible_boxes(window)
    assert box.text() == "<b>Nothing was written</b>"
    assert "cannot be written in place" in box.informativeText()
    assert label_mask.NOT_DEIDENTIFIED in box.informativeText()


def test_the_mask_label_dialog_shows_all_its_text(qtbot, slide_files):
    from PySide6.QtWidgets import QApplication

    from layout_checks import clipped

    dialog = MaskLabelDialog(label_mask.associated_images(slide_files.folder))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=EVENT_TIMEOUT_MS)
    QApplication.processEvents()
    problems = clipped(dialog)
    assert not problems, "\n".join(problems)
