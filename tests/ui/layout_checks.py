"""Find text a user cannot read in full: clipped labels, buttons, placeholders, table cells.

:func:`clipped` walks a shown widget and compares what each text wants
(``sizeHint``, ``heightForWidth`` for wrapped text, the header's and the
view's size hint per column) with the room it got, and whether that room
lies inside the window. It returns one line per problem, so that a failing
test says which text is cut and by how much.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QTreeView,
    QWidget,
)

SLACK = 1  # pixels of rounding allowed


def _name(widget: QWidget) -> str:
    text = ""
    for getter in ("text", "placeholderText", "windowTitle"):
        value = getattr(widget, getter, None)
        if callable(value) and value():
            text = value()
            break
    short = text.replace("\n", " ")[:60]
    return f"{type(widget).__name__} {widget.objectName() or ''} {short!r}".replace("  ", " ")


# Geometry through QWidget's own methods: a widget may shadow them with an attribute of the same name.
_width, _height, _size = QWidget.width, QWidget.height, QWidget.size


def _outside_window(widget: QWidget) -> str | None:
    """Why `widget` is cut by its window's edge, or None."""
    window = widget.window()
    top_left = widget.mapTo(window, widget.rect().topLeft())
    rect = QRect(top_left, _size(widget))
    inside = window.rect()
    if not inside.contains(rect):
        return f"{_name(widget)} at {rect.getRect()} lies outside its window {inside.getRect()}"
    return None


def _label_problem(label: QLabel) -> str | None:
    if label.wordWrap():
        needed = label.heightForWidth(label.width())
        if needed > label.height() + SLACK:
            return f"{_name(label)} needs {needed} px of height at width {label.width()}, has {label.height()}"
        return None
    hint = label.sizeHint()
    if label.pixmap() is not None and not label.pixmap().isNull():
        return None
    if hint.width() > label.width() + SLACK or hint.height() > label.height() + SLACK:
        return f"{_name(label)} wants {hint.width()}x{hint.height()} px, has {label.width()}x{label.height()}"
    return None


def _hint_problem(widget: QWidget) -> str | None:
    hint = widget.sizeHint()
    width, height = _width(widget), _height(widget)
    if hint.width() > width + SLACK or hint.height() > height + SLACK:
        return f"{_name(widget)} wants {hint.width()}x{hint.height()} px, has {width}x{height}"
    return None


def _placeholder_problem(edit: QLineEdit) -> str | None:
    text = edit.placeholderText()
    if not text or edit.text():
        return None
    # The text area: the contents minus the frame and the clear button, as QLineEdit lays it out.
    room = edit.width() - 2 * edit.style().pixelMetric(edit.style().PixelMetric.PM_DefaultFrameWidth) - 8
    room -= sum(action.isVisible() * edit.height() for action in edit.actions())
    wanted = edit.fontMetrics().horizontalAdvance(text)
    if wanted > room:
        return f"{_name(edit)} placeholder needs {wanted} px, has {room}"
    return None


def _header_problems(view: QAbstractItemView, header: QHeaderView) -> list[str]:
    problems = []
    model = view.model()
    if model is None or header.isHidden():
        return problems
    count = header.count()
    last = max((column for column in range(count) if not header.isSectionHidden(column)), default=-1)
    for column in range(count):
        if header.isSectionHidden(column):
            continue
        size = header.sectionSize(column)
        title = model.headerData(column, header.orientation())
        if header.sectionSizeFromContents(column).width() > size + SLACK:
            problems.append(f"{_name(view)} header {title!r} needs "
                            f"{header.sectionSizeFromContents(column).width()} px, has {size}")
        stretched = column == last and header.stretchLastSection()
        if stretched:
            # A stretching last column holds values of any length (they have tool tips):
            # it must at least be on screen with room to read.
            right = header.sectionViewportPosition(column)
            if right + 120 > view.viewport().width():
                problems.append(f"{_name(view)} column {title!r} starts at {right} px of a "
                                f"{view.viewport().width()} px view: off screen")
            continue
        wanted = view.sizeHintForColumn(column)
        if wanted > size + SLACK:
            problems.append(f"{_name(view)} column {title!r} needs {wanted} px, has {size}")
        if header.sectionViewportPosition(column) + size > view.viewport().width() + SLACK:
            problems.append(f"{_name(view)} column {title!r} ends off screen")
    return problems


def clipped(root: QWidget) -> list[str]:
    """Every visible text under `root` (itself included) that does not fit where it is shown."""
    problems: list[str] = []
    widgets = [root] + root.findChildren(QWidget)
    for widget in widgets:
        if not widget.isVisible() or _width(widget) <= 0:
            continue
        if isinstance(widget, QLabel) and widget.text():
            problem = _label_problem(widget)
        elif isinstance(widget, (QAbstractButton, QComboBox, QAbstractSpinBox)) and \
                not widget.objectName().startswith("qt_"):
            problem = _hint_problem(widget)
        elif isinstance(widget, QLineEdit) and not isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):
            problem = _placeholder_problem(widget)
        else:
            problem = None
        if isinstance(widget, (QTreeView, QTableView)):
            header = widget.header() if isinstance(widget, QTreeView) else widget.horizontalHeader()
            problems += _header_problems(widget, header)
        if problem:
            problems.append(problem)
        elif isinstance(widget, (QLabel, QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit)):
            outside = _outside_window(widget)
            if outside and widget.window() is root.window():
                problems.append(outside)
    return problems
