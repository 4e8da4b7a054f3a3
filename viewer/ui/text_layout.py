"""Small helpers so that text in dialogs is readable in full: help text colour, wrapped labels.

Qt sizes a window from its layout's size hints before word-wrapped labels
know their width, so a wrapped label in a form can get the height of one
line and show half of its last line. :func:`wrapped_label` gives such a
label a width of its own and the height that width needs, measured with the
label's real font.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QWidget

HELP_TEXT_WEIGHT = 0.78  # share of the text colour in help text; the rest is the background
WRAP_WIDTH = 380  # pixels of a help text line: about 60 characters at the default font


def help_text_colour(palette: QPalette) -> QColor:
    """A colour a little softer than normal text, still at least 7:1 against the window.

    Blended from the palette's own text and window colours, so it follows
    light and dark themes (``palette(mid)`` was about 2.5:1 on Fusion).
    """
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)

    def mix(a: float, b: float) -> float:
        return a * HELP_TEXT_WEIGHT + b * (1 - HELP_TEXT_WEIGHT)

    return QColor.fromRgbF(mix(text.redF(), window.redF()), mix(text.greenF(), window.greenF()),
                           mix(text.blueF(), window.blueF()))


def style_help_text(label: QLabel) -> QLabel:
    """Give `label` the help text colour (its palette, not a style sheet: themes keep working)."""
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, help_text_colour(palette))
    label.setPalette(palette)
    return label


def wrapped_label(text: str, width: int = WRAP_WIDTH, parent: QWidget | None = None) -> QLabel:
    """A word-wrapped label at least `width` px wide and as tall as its text needs at that width."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    fit_wrapped(label, width)
    return label


def fit_wrapped(label: QLabel, width: int = WRAP_WIDTH) -> None:
    """Reserve for a wrapped `label` the height its text needs at `width` px (call after setText)."""
    label.setMinimumWidth(width)
    label.setMinimumHeight(label.heightForWidth(width))
