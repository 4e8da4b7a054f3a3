"""Every dialog at its default size: no label, help text, button or table cell is cut.

Each dialog is shown as a user first sees it (no resizing by the test), then
:func:`layout_checks.clipped` compares every text's size hint with the room
it got.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox, QProgressDialog, QPushButton  # noqa: E402

from viewer.model import NotDicomError  # noqa: E402
from viewer.model.settings import Settings  # noqa: E402
from viewer.ui.about_dialog import AboutDialog  # noqa: E402
from viewer.ui.deid_dialog import DeidentifyDialog  # noqa: E402
from viewer.ui.error_dialog import show_error  # noqa: E402
from viewer.ui.settings_dialog import SettingsDialog  # noqa: E402
from viewer.ui.shortcuts_dialog import ShortcutsDialog  # noqa: E402

from conftest import EVENT_TIMEOUT_MS, open_and_wait  # noqa: E402
from layout_checks import clipped  # noqa: E402


def shown(qtbot, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog, timeout=EVENT_TIMEOUT_MS)
    QApplication.processEvents()
    return dialog


def assert_fits(widget) -> None:
    problems = clipped(widget)
    assert not problems, "\n".join(problems)


def contrast(first: QColor, second: QColor) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    def luminance(colour: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("can_reopen", [False, True])
def test_settings_dialog(qtbot, can_reopen):
    dialog = shown(qtbot, SettingsDialog(Settings(), can_reopen=can_reopen))
    assert_fits(dialog)


def test_settings_help_text_has_high_contrast(qtbot):
    dialog = shown(qtbot, SettingsDialog(Settings()))
    notes = dialog.findChildren(QLabel, "SettingHelp")
    assert len(notes) == len(list(Settings.fields()))
    background = dialog.palette().color(QPalette.ColorRole.Window)
    for note in notes:
        assert contrast(note.palette().color(QPalette.ColorRole.WindowText), background) >= 7.0  # WCAG AAA


def test_about_dialog(qtbot):
    assert_fits(shown(qtbot, AboutDialog()))


def test_shortcuts_dialog(qtbot, window):
    dialog = shown(qtbot, ShortcutsDialog(window))
    assert any("Ctrl+Shift+Z" in text for text in dialog.texts())
    assert_fits(dialog)


@pytest.mark.parametrize("burned_in", ["YES", "NO", ""])
def test_deidentify_dialog(qtbot, burned_in):
    dialog = shown(qtbot, DeidentifyDialog(2, 1200, burned_in))
    assert_fits(dialog)


def test_error_dialog(qtbot, window, tmp_path):
    box = show_error(window, NotDicomError(str(tmp_path / "not-dicom.dcm"), "no 'DICM' marker at byte 128"), "open")
    qtbot.waitExposed(box, timeout=EVENT_TIMEOUT_MS)
    assert_fits(box)
    box.close()


def test_save_progress(qtbot, window):
    from viewer.ui.saving import save_progress_dialog

    dialog = save_progress_dialog(window, "demo-cine.dcm")
    qtbot.waitExposed(dialog, timeout=EVENT_TIMEOUT_MS)
    for done in (0, 1200, 4000, 7999):
        dialog.show_progress(done, 8000)
        QApplication.processEvents()
        assert_fits(dialog)
    dialog.reset()


def test_main_window_tag_browser_and_edit_panel(qtbot, window, cine_path):
    open_and_wait(qtbot, window, cine_path)
    window.tag_browser.toggleViewAction().trigger()
    window.edit_panel.show()
    qtbot.waitUntil(window.tag_browser.isVisible, timeout=EVENT_TIMEOUT_MS)
    QApplication.processEvents()
    assert_fits(window.tag_browser)
    assert_fits(window.edit_panel)


def test_message_boxes_are_not_cramped(qtbot, window, tmp_path):
    box = show_error(window, NotDicomError(str(tmp_path / "x.dcm"), "no 'DICM' marker at byte 128"), "open")
    qtbot.waitExposed(box, timeout=EVENT_TIMEOUT_MS)
    assert box.width() >= 420
    box.close()
    assert not [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]


def test_main_window_with_a_file_open(qtbot, window, cine_path):
    open_and_wait(qtbot, window, cine_path)
    window.status.update_memory()
    window.status.show_pixel(None)
    QApplication.processEvents()
    assert_fits(window)


def test_empty_main_window(qtbot, window):
    assert_fits(window)


def test_file_changed_bar_and_notes(qtbot, window, cine_path):
    from viewer.ui.error_dialog import show_message
    from viewer.ui.file_watch import change_message

    open_and_wait(qtbot, window, cine_path)
    window.file_watch.bar.show_change(change_message(str(cine_path), "it was truncated to 1,024 bytes by another "
                                                     "program while Cinemap showed it", dirty=True))
    QApplication.processEvents()
    assert_fits(window.file_watch.bar)
    box = show_message(window, "Cinemap", "Notes on cine.dcm", "Opened read-only: another Cinemap (pid 4242 on "
                       "workstation-7) holds the edit lock of this file\nThe file ends 100 bytes early", warning=True)
    qtbot.waitExposed(box, timeout=EVENT_TIMEOUT_MS)
    assert_fits(box)
    box.close()


def test_demo_progress(qtbot, window, monkeypatch):
    from viewer.ui import demo

    monkeypatch.setenv(demo.FRAMES_VARIABLE, "400")
    builder = demo.DemoBuilder(window)
    builder.start()
    qtbot.waitExposed(builder.dialog, timeout=EVENT_TIMEOUT_MS)
    assert_fits(builder.dialog)
    with qtbot.waitSignal(builder.cancelled, timeout=EVENT_TIMEOUT_MS):
        builder.dialog.findChild(QPushButton).click()


def test_export_cine_dialog(qtbot):
    from viewer.ui.export_dialog import ExportCineDialog

    dialog = shown(qtbot, ExportCineDialog(4000, 30.0, os.path.join(os.sep, "home", "clinic", "exports"), True))
    assert_fits(dialog)
    path = dialog.path  # the suggested file name is seen whole, not cut at the box's edge
    assert path.width() >= path.fontMetrics().horizontalAdvance(path.text())


def test_mask_slide_label_dialog(qtbot):
    import numpy as np

    from viewer.ui.slide_label_dialog import MaskLabelDialog

    images = {"LABEL": np.full((300, 260, 3), 200, np.uint8), "OVERVIEW": np.full((400, 1200, 3), 90, np.uint8)}
    assert_fits(shown(qtbot, MaskLabelDialog(images)))
