"""The Help menu: Keyboard Shortcuts and About Cinemap, both non-modal dialogs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMainWindow, QMenu

from viewer.ui.about_dialog import AboutDialog
from viewer.ui.shortcuts_dialog import ShortcutsDialog


def _show(dialog: QDialog) -> QDialog:
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def show_about(window: QMainWindow) -> QDialog:
    return _show(AboutDialog(window))


def show_shortcuts(window: QMainWindow) -> QDialog:
    return _show(ShortcutsDialog(window))


def add_help_menu(window: QMainWindow) -> QMenu:
    """Add Help (call it after every other menu, so that it comes last) and return it."""
    menu = window.menuBar().addMenu("&Help")
    shortcuts = QAction("&Keyboard Shortcuts", window)
    shortcuts.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    shortcuts.setStatusTip("List every keyboard shortcut and mouse gesture")
    shortcuts.triggered.connect(lambda: show_shortcuts(window))
    about = QAction("&About Cinemap", window)
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about.setStatusTip("Versions, pixel decoders and the log folder")
    about.triggered.connect(lambda: show_about(window))
    menu.addAction(shortcuts)
    menu.addAction(about)
    return menu
