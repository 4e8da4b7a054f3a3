"""The main window's menus and tool bars: every action, with its shortcut and tip.

:func:`add_menus` makes the actions as attributes of the window
(``window.play_action``...), so that the window's own code, the keyboard
shortcuts dialog and the tests find them by name; Help comes last, from
:mod:`viewer.ui.help_menu`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

from viewer.model.view import BOUNCE, LOOP


def action(parent: QMainWindow, text: str, slot, shortcut=None, *, checkable: bool = False, tip: str = "") -> QAction:
    """A QAction calling `slot` when triggered (or toggled, if `checkable`)."""
    made = QAction(text, parent)
    if shortcut is not None:
        made.setShortcut(QKeySequence(shortcut))
    made.setCheckable(checkable)
    if tip:
        made.setStatusTip(tip)
        made.setToolTip(tip)
    (made.toggled if checkable else made.triggered).connect(slot)
    return made


def add_menus(window) -> None:
    """File, Edit, View, Playback and Tools menus, the main tool bar and the edit tools' palette."""
    _file_menu(window)
    _edit_menu(window)
    _view_menu(window)
    _playback_menu(window)
    _tools_menu(window)
    toolbar = QToolBar("Main")
    toolbar.setObjectName("MainToolbar")
    for item in (window.open_action, window.write_action, None, window.fit_action, window.actual_size_action, None):
        toolbar.addAction(item) if item is not None else toolbar.addSeparator()
    toolbar.addWidget(window.window_level)
    window.addToolBar(toolbar)
    window.addToolBar(Qt.ToolBarArea.LeftToolBarArea, window.edit_toolbar)  # a tool palette; the top row is full


def _add(menu, items) -> None:
    for item in items:
        menu.addAction(item) if item is not None else menu.addSeparator()


def _file_menu(window) -> None:
    menu = window.menuBar().addMenu("&File")
    window.open_action = action(window, "&Open…", window.choose_file, QKeySequence.StandardKey.Open)
    window.open_folder_action = action(window, "Open &Folder…", window.choose_folder, "Ctrl+Shift+O",
                                       tip="Open a whole-slide image (VL Whole Slide Microscopy) from its folder")
    _add(menu, (window.open_action, window.open_folder_action))
    window.recent_menu = menu.addMenu("Open &Recent")
    window.reopen_action = action(window, "Re&open", window.reopen, tip="Open the file again with the current settings")
    window.close_action = action(window, "&Close", window.close_document, QKeySequence.StandardKey.Close)
    window.save_action = action(window, "&Save", lambda: window.saver.save(), QKeySequence.StandardKey.Save,
                                tip="Write the edits into the file (journaled: a crash cannot half-write it)")
    window.revert_action = action(window, "Re&vert", lambda: window.saver.revert(), tip="Discard all unsaved edits")
    window.demo_action = action(window, "Open &Demo Cine", lambda: window.open_demo(),
                                tip="Open the built-in synthetic cine (written once into the cache folder)")
    window.fresh_demo_action = action(window, "Re&generate Demo Cine", lambda: window.open_demo(fresh=True),
                                      tip="Write the demo cine again, undoing any edits saved into it")
    _add(menu, (window.reopen_action, window.close_action, None, window.save_action, window.revert_action, None,
                window.exporter.frame_action, window.exporter.cine_action, None,
                window.demo_action, window.fresh_demo_action, None,
                action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit)))


def _edit_menu(window) -> None:
    menu = window.menuBar().addMenu("&Edit")
    window.undo_action = action(window, "&Undo", window.undo, QKeySequence.StandardKey.Undo)
    window.redo_action = action(window, "&Redo", window.redo, QKeySequence.StandardKey.Redo)
    # The platform's first Redo key is Ctrl+Y on some and Ctrl+Shift+Z on others: offer both everywhere.
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    # Read/write mode: the model switches and takes the edit lock; the
    # editing tools follow its mode_changed.
    window.write_action = action(window, "&Read/Write Mode", window.set_writable, "Ctrl+E", checkable=True,
                                 tip="Switch between read-only and read/write (takes the file's edit lock)")
    window.settings_action = action(window, "&Settings…", window.edit_settings, QKeySequence.StandardKey.Preferences)
    _add(menu, (window.undo_action, window.redo_action, None, window.exporter.copy_action, None,
                window.write_action, None, window.settings_action))


def _view_menu(window) -> None:
    menu = window.menuBar().addMenu("&View")
    window.fit_action = action(window, "&Fit to Window", window.fit_view, "F")
    window.actual_size_action = action(window, "&Actual Size (1:1)", window.actual_size_view, "1")
    window.invert_action = action(window, "&Invert", window.state.set_invert, "I", checkable=True)
    window.reset_window_action = action(window, "&Reset Window", window.state.reset_window, "R")
    _add(menu, (window.fit_action, window.actual_size_action, window.invert_action, window.reset_window_action,
                None, window.tag_browser.toggleViewAction(), window.edit_panel.toggleViewAction()))
    window.tag_browser.toggleViewAction().setShortcut(QKeySequence("Ctrl+T"))


def _playback_menu(window) -> None:
    menu = window.menuBar().addMenu("&Playback")
    window.play_action = action(window, "&Play/Pause", window.player.toggle, Qt.Key.Key_Space)
    menu.addAction(window.play_action)
    window.play_modes = QActionGroup(window)
    for text, mode in (("&Loop", LOOP), ("&Bounce", BOUNCE)):
        choice = action(window, text, lambda checked, m=mode: checked and window.set_play_mode(m), checkable=True)
        choice.setChecked(mode == LOOP)
        window.play_modes.addAction(choice)
        menu.addAction(choice)


def _tools_menu(window) -> None:
    menu = window.menuBar().addMenu("&Tools")
    menu.addActions(list(window.edit_toolbar.tool_actions.values()))
    menu.addSeparator()
    window.mask_regions_action = action(
        window, "&Mask Outside Ultrasound Regions…", window.deidentify.start,
        tip="De-identify: mask everything outside the ultrasound regions on all frames (previewed first)")
    window.mask_label_action = action(
        window, "Mask Slide &Label…", window.slides.mask_label,
        tip="Black out the whole-slide image's label (and a rectangle of its overview) in place, previewed first")
    _add(menu, (window.mask_regions_action, window.mask_label_action))
