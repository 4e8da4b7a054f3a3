"""Edit > Settings: a dialog built from the settings schema.

Each field of :class:`viewer.model.settings.Settings` becomes one row: its
title, an editor chosen from its type (check box, choice, number with unit,
byte size in KiB/MiB), its one-sentence description and when a change takes
effect, in full at the dialog's default size and in a colour of at least 7:1
contrast. Nothing here knows the individual settings.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from viewer.model.settings import IMMEDIATELY, NEXT_OPEN, NOT_USED_YET, SettingInfo, Settings
from viewer.ui.text_layout import style_help_text, wrapped_label

_BYTE_UNITS = (("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30))
_EFFECT_TEXT = {
    NEXT_OPEN: "Takes effect when a file is next opened (or with Reopen).",
    IMMEDIATELY: "Takes effect immediately.",
    NOT_USED_YET: "Not used yet: kept for a future version.",
}


class ByteSizeEdit(QWidget):
    """A size in bytes edited as a number and a unit (KiB, MiB, GiB)."""

    def __init__(self, minimum: float, maximum: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._minimum, self._maximum = int(minimum), int(maximum)
        self.number = QDoubleSpinBox()
        self.number.setDecimals(1)
        self.unit = QComboBox()
        for name, factor in _BYTE_UNITS:
            self.unit.addItem(name, factor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.number)
        layout.addWidget(self.unit)
        self.unit.currentIndexChanged.connect(self._on_unit_changed)
        self._factor = 1 << 10

    def _on_unit_changed(self) -> None:
        value = self.value_bytes_with(self._factor)
        self._factor = self.unit.currentData()
        self._set_range()
        self.number.setValue(value / self._factor)

    def _set_range(self) -> None:
        self.number.setRange(self._minimum / self._factor, self._maximum / self._factor)

    def value_bytes_with(self, factor: int) -> int:
        return int(round(self.number.value() * factor))

    def value(self) -> int:
        return max(self._minimum, min(self._maximum, self.value_bytes_with(self._factor)))

    def set_value(self, nbytes: int) -> None:
        """Show `nbytes` in the largest unit that gives a number of at least 1."""
        index = 0
        for position, (_, factor) in enumerate(_BYTE_UNITS):
            if nbytes >= factor:
                index = position
        self.unit.blockSignals(True)
        self.unit.setCurrentIndex(index)
        self.unit.blockSignals(False)
        self._factor = _BYTE_UNITS[index][1]
        self._set_range()
        self.number.setValue(nbytes / self._factor)


def make_editor(kind: type, info: SettingInfo) -> tuple[QWidget, Callable[[], Any], Callable[[Any], None]]:
    """An editor widget for a setting, with its getter and setter."""
    if kind is bool:
        box = QCheckBox()
        return box, box.isChecked, box.setChecked
    if info.choices:
        combo = QComboBox()
        combo.addItems(list(info.choices))
        return combo, combo.currentText, combo.setCurrentText
    if info.unit == "bytes":
        size = ByteSizeEdit(info.minimum or 0, info.maximum or (1 << 40))
        return size, size.value, size.set_value
    spin: QSpinBox | QDoubleSpinBox
    if kind is int:
        spin = QSpinBox()
        if info.minimum is not None and info.maximum is not None:
            spin.setRange(int(info.minimum), int(info.maximum))
    else:
        spin = QDoubleSpinBox()
        if info.minimum is not None and info.maximum is not None:
            spin.setRange(info.minimum, info.maximum)
    if info.unit:
        spin.setSuffix(f" {info.unit}")
    return spin, spin.value, spin.setValue


class SettingsDialog(QDialog):
    """Edit a copy of the settings; :meth:`settings` returns what the user chose.

    Signals
    -------
    reopen_requested()
        The user accepted with Reopen: apply the settings and reopen the file.
    """

    reopen_requested = Signal()

    def __init__(self, settings: Settings, *, can_reopen: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("SettingsDialog")
        self._original = settings
        self.editors: dict[str, tuple[QWidget, Callable[[], Any], Callable[[Any], None]]] = {}
        form = QFormLayout()
        for name, kind, info, _default in Settings.fields():
            editor, getter, setter = make_editor(kind, info)
            editor.setObjectName(name)
            setter(getattr(settings, name))
            self.editors[name] = (editor, getter, setter)
            note = style_help_text(wrapped_label(f"{info.description} <i>{_EFFECT_TEXT[info.effect]}</i>"))
            note.setObjectName("SettingHelp")
            cell = QWidget()
            column = QVBoxLayout(cell)
            column.setContentsMargins(0, 0, 0, 6)
            column.addWidget(editor)
            column.addWidget(note)
            form.addRow(info.title, cell)
            editor.setToolTip(info.description)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.reopen_button = buttons.addButton("OK and Reopen", QDialogButtonBox.ButtonRole.AcceptRole)
        self.reopen_button.setToolTip("Apply and reopen the current file so that every change takes effect now")
        self.reopen_button.setVisible(can_reopen)
        self.reopen_button.clicked.connect(self.reopen_requested)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def settings(self) -> Settings:
        """The settings as edited (validated)."""
        return self._original.replace(**{name: getter() for name, (_, getter, _) in self.editors.items()})

    def restore_defaults(self) -> None:
        for name, _kind, _info, default in Settings.fields():
            self.editors[name][2](default)
