"""Help menu: About lists versions and decoders; Keyboard Shortcuts lists every shortcut the window has."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pydicom  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtGui import QAction  # noqa: E402

import viewer  # noqa: E402
from viewer.ui import about_dialog, help_menu  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402
from viewer.ui.paths import log_folder  # noqa: E402
from viewer.ui.shortcuts_dialog import ShortcutsDialog, key_text, shortcut_rows  # noqa: E402


@pytest.fixture
def window(qtbot, store):
    window = MainWindow(store)
    qtbot.addWidget(window)
    return window


def test_help_is_the_last_menu(window):
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus[-1] == "&Help" and menus.count("&Help") == 1
    assert [action.text() for action in window.help_menu.actions()] == ["&Keyboard Shortcuts", "&About Cinemap"]


def test_about_lists_versions_decoders_and_the_log_folder(qtbot, window):
    decoders = about_dialog.decoder_status()
    available = [(name, plugins) for name, ok, plugins in decoders if ok and plugins]
    assert available, decoders
    assert {name for name, _, _ in decoders} >= {"JPEG Baseline", "JPEG-LS Lossless", "JPEG 2000", "RLE Lossless",
                                                "Deflate"}
    dialog = help_menu.show_about(window)
    qtbot.addWidget(dialog)
    for text in (dialog.text, dialog.label.text()):
        assert f"pydicom: {pydicom.__version__}" in text or f"<td>{pydicom.__version__}</td>" in text
        assert viewer.__version__ in text and "numpy" in text and "pyqtgraph" in text and "PySide6" in text
        name, plugins = available[0]
        assert name in text and plugins[0] in text
        assert log_folder() in text
    assert dialog.isVisible() and not dialog.isModal()


def test_shortcuts_dialog_lists_every_action_shortcut(qtbot, window):
    actions = [action for action in window.findChildren(QAction) if action.shortcuts()]
    assert len(actions) >= 10
    dialog = help_menu.show_shortcuts(window)
    qtbot.addWidget(dialog)
    assert isinstance(dialog, ShortcutsDialog)
    cells = dialog.texts()
    for action in actions:
        for sequence in action.shortcuts():
            assert any(key_text(sequence) in cell for cell in cells), (action.text(), key_text(sequence))
    rows = shortcut_rows(window)
    assert ("File", "Open", key_text(window.open_action.shortcut())) in rows
    assert ("Frames", "Next frame", "Right") in rows and ("Frames", "Last frame", "End") in rows
    for keys, what in getattr(window.image_view, "KEY_BINDINGS", ()):
        assert what in cells and keys in cells


def test_help_actions_open_the_dialogs(qtbot, window):
    before = set(window.findChildren(ShortcutsDialog))
    shortcuts, about = window.help_menu.actions()
    shortcuts.trigger()
    about.trigger()
    assert set(window.findChildren(ShortcutsDialog)) - before
    assert window.findChildren(about_dialog.AboutDialog)
