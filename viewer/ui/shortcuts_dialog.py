"""Help > Keyboard Shortcuts: every shortcut, read from the window itself.

The list is generated, not written by hand, so it cannot drift: the
shortcuts of every ``QAction`` in the window (named by their menu path),
the frame keys :func:`~viewer.ui.frame_controls.navigation_keys` knows, and
the image view's own bindings (its ``KEY_BINDINGS`` and ``MOUSE_BINDINGS``
tables of (what you press, what it does), when it has them).
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from viewer.ui.frame_controls import navigation_keys

OTHER = "Other"
FRAMES = "Frames"
IMAGE = "Image"
MOUSE = "Mouse"
DEFAULT_HEIGHT = 560
COLUMN_SLACK = 24  # pixels beyond the columns' contents: a last column flush with the frame looks cut


def key_text(sequence: QKeySequence) -> str:
    """A key sequence as the platform writes it (Ctrl+O, ⌘O)."""
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").rstrip(".")


def _menu_actions(menu: QMenu, path: list[str]):
    for action in menu.actions():
        submenu = action.menu()  # typed QObject: QAction may hold a menu of any kind
        if isinstance(submenu, QMenu):
            yield from _menu_actions(submenu, path + [_plain(action.text())])
        elif not action.isSeparator():
            yield action, path + [_plain(action.text())]


def action_shortcuts(window: QWidget) -> list[tuple[str, str, str]]:
    """(section, action, keys) for every action of `window` with a shortcut.

    Actions in the menu bar are named by their menu path ("File > Open") and
    grouped by menu; any other action of the window goes under "Other".
    """
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    menu_bar = window.menuBar() if hasattr(window, "menuBar") else None
    top_menus = [action.menu() for action in menu_bar.actions() if action.menu() is not None] if menu_bar else []
    for menu in top_menus:
        section = _plain(menu.title())
        for action, path in _menu_actions(menu, []):
            seen.add(id(action))
            if action.shortcuts():
                rows.append((section, " > ".join(path), ", ".join(key_text(s) for s in action.shortcuts())))
    for action in window.findChildren(QAction):
        if id(action) in seen or not action.shortcuts():
            continue
        seen.add(id(action))
        rows.append((OTHER, _plain(action.text()) or action.objectName(),
                     ", ".join(key_text(s) for s in action.shortcuts())))
    return rows


def binding_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(section, what it does, keys) for the keys and mouse gestures not backed by actions."""
    rows = [(FRAMES, what, key_text(QKeySequence(key))) for key, what in navigation_keys()]
    view = getattr(window, "image_view", None)
    rows += [(IMAGE, what, keys) for keys, what in getattr(view, "KEY_BINDINGS", ())]
    rows += [(MOUSE, what, gesture) for gesture, what in getattr(view, "MOUSE_BINDINGS", ())]
    return rows


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """Everything the dialog lists, in order."""
    return action_shortcuts(window) + binding_rows(window)


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: a tree of sections, each listing what to press and what it does."""

    def __init__(self, window: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent if parent is not None else window)
        self.setWindowTitle("Keyboard Shortcuts")
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        sections: dict[str, QTreeWidgetItem] = {}
        for section, what, keys in shortcut_rows(window):
            if section not in sections:
                header = QTreeWidgetItem(self.tree, [section])
                font = header.font(0)
                font.setBold(True)
                header.setFont(0, font)
                header.setFirstColumnSpanned(True)
                sections[section] = header
            QTreeWidgetItem(sections[section], [what, keys])
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self._layout = layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.resize(self._width_for_contents(), DEFAULT_HEIGHT)

    def _width_for_contents(self) -> int:
        """Wide enough for every action and every key (e.g. ``Ctrl+Shift+Z, Ctrl+Y``) without cutting one."""
        for column in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(column)
        header = self.tree.header()
        columns = sum(header.sectionSize(column) for column in range(self.tree.columnCount()))
        chrome = 2 * self.tree.frameWidth() + self.tree.verticalScrollBar().sizeHint().width()
        margins = self._layout.contentsMargins()
        return columns + chrome + margins.left() + margins.right() + COLUMN_SLACK

    def texts(self) -> list[str]:
        """Every cell's text (for tests and copying)."""
        found = []
        for header in _children(self.tree.invisibleRootItem()):
            found.append(header.text(0))
            for row in _children(header):
                found += [row.text(0), row.text(1)]
        return found


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child for index in range(item.childCount()) if (child := item.child(index)) is not None]
