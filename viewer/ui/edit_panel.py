"""The editing controls: a tool bar of tools and a dock of their options.

Every control writes only through :meth:`EditController.set_tool` or
:meth:`EditController.set_options` and is updated from the controller's
signals, with its own signals blocked meanwhile. Everything is greyed while
the document is read-only (the controller's ``enabled_changed``).
"""

from __future__ import annotations

from contextlib import ExitStack

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QSpinBox,
    QToolBar,
    QWidget,
)

from viewer.model.editing import shapes
from viewer.ui.edit_controller import EditController
from viewer.ui.edit_tools import (
    CUSTOM,
    BLACK,
    FILL_LABELS,
    FRAME_RANGE,
    MAXIMUM,
    MINIMUM,
    SCOPE_LABELS,
    TOOL_LABELS,
    TOOLS,
    EditOptions,
    PixelFormat,
)

TOOL_SHORTCUTS = {"navigate": "N", "brush": "B", "line": "L", "rectangle": "M", "polygon": "P"}
TOOL_TIPS = {
    "navigate": "Pan and zoom with the left button (no editing)",
    "brush": "Paint with a round brush; a drag is one undo step",
    "line": "Drag a straight line",
    "rectangle": "Drag a rectangle from corner to corner",
    "polygon": "Click the corners; double-click or Enter fills it, Escape cancels",
}
RULE_LABELS = {shapes.NONZERO: "Fill all enclosed (nonzero)", shapes.EVEN_ODD: "Alternate (even-odd)"}
CHANNEL_NAMES = ("R", "G", "B", "A")


class EditToolBar(QToolBar):
    """"Edit tools": one checkable action per tool, exactly one checked."""

    def __init__(self, controller: EditController, parent: QWidget | None = None) -> None:
        super().__init__("Edit tools", parent)
        self.setObjectName("EditToolsToolbar")
        self.controller = controller
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for name in TOOLS:
            action = QAction(TOOL_LABELS[name], self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(TOOL_SHORTCUTS[name]))
            action.setToolTip(f"{TOOL_LABELS[name]} ({TOOL_SHORTCUTS[name]}): {TOOL_TIPS[name]}")
            action.setStatusTip(TOOL_TIPS[name])
            action.triggered.connect(lambda _checked=False, tool=name: controller.set_tool(tool))
            self.group.addAction(action)
            self.addAction(action)
            self.tool_actions[name] = action
        controller.tool_changed.connect(self._show_tool)
        controller.enabled_changed.connect(self._show_enabled)
        self._show_tool(controller.tool_name)
        self._show_enabled(controller.enabled)

    def _show_tool(self, name: str) -> None:
        # Not blocked: the group unchecks the others through the action's signals;
        # setChecked does not emit triggered, which is what writes to the controller.
        self.tool_actions[name].setChecked(True)

    def _show_enabled(self, enabled: bool) -> None:
        self.group.setEnabled(enabled)


class EditPanel(QDockWidget):
    """"Edit" dock: brush radius, line width, polygon fill rule, fill value and frames."""

    def __init__(self, controller: EditController, parent: QWidget | None = None) -> None:
        super().__init__("Edit", parent)
        self.setObjectName("EditPanel")
        self.controller = controller
        self.brush_radius = self._spin(0, 1024, " px", "Brush radius in pixels (0: single pixels)")
        self.line_width = self._spin(1, 2048, " px", "Line width in pixels")
        self.rule = QComboBox()
        for rule, label in RULE_LABELS.items():
            self.rule.addItem(label, rule)
        self.rule.setToolTip("Which parts of a self-crossing polygon are filled")
        self.fill = QComboBox()
        for fill, label in FILL_LABELS.items():
            self.fill.addItem(label, fill)
        self.fill.setToolTip("The value written under the shapes")
        self.custom_row = QWidget()
        self.custom_layout = QHBoxLayout(self.custom_row)
        self.custom_layout.setContentsMargins(0, 0, 0, 0)
        self.custom: list[QSpinBox] = []
        self.scope = QComboBox()
        for scope, label in SCOPE_LABELS.items():
            self.scope.addItem(label, scope)
        self.scope.setToolTip("Which frames a shape is applied to")
        self.first = self._spin(1, 1, "", "First frame of the range")
        self.last = self._spin(1, 1, "", "Last frame of the range")
        range_row = QWidget()
        range_layout = QHBoxLayout(range_row)
        range_layout.setContentsMargins(0, 0, 0, 0)
        range_layout.addWidget(self.first)
        range_layout.addWidget(self.last)

        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.addRow("Brush radius", self.brush_radius)
        form.addRow("Line width", self.line_width)
        form.addRow("Polygon", self.rule)
        form.addRow("Fill with", self.fill)
        form.addRow("Value", self.custom_row)
        form.addRow("Apply to", self.scope)
        form.addRow("Frames", range_row)
        self.setWidget(form_widget)

        self.brush_radius.valueChanged.connect(lambda value: controller.set_options(brush_radius=value))
        self.line_width.valueChanged.connect(lambda value: controller.set_options(line_width=value))
        self.rule.currentIndexChanged.connect(lambda _i: controller.set_options(rule=self.rule.currentData()))
        self.fill.currentIndexChanged.connect(lambda _i: controller.set_options(fill=self.fill.currentData()))
        self.scope.currentIndexChanged.connect(lambda _i: controller.set_options(scope=self.scope.currentData()))
        self.first.valueChanged.connect(lambda number: controller.set_options(first=number - 1))
        self.last.valueChanged.connect(lambda number: controller.set_options(last=number - 1))
        controller.format_changed.connect(self._show_format)
        controller.options_changed.connect(self._show_options)
        controller.enabled_changed.connect(self._on_enabled_changed)
        self._show_format(controller.pixel_format)
        self._show_enabled(controller.enabled)

    @staticmethod
    def _spin(low: int, high: int, suffix: str, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        return spin

    def _show_format(self, pixel_format: PixelFormat) -> None:
        """Rebuild the custom value boxes (one per channel) and show the limits in the fill menu."""
        low, high = pixel_format.limits
        with QSignalBlocker(self.fill):
            self.fill.setItemText(self.fill.findData(BLACK), f"{FILL_LABELS[BLACK]} ({pixel_format.black})")
            self.fill.setItemText(self.fill.findData(MINIMUM), f"{FILL_LABELS[MINIMUM]} ({low})")
            self.fill.setItemText(self.fill.findData(MAXIMUM), f"{FILL_LABELS[MAXIMUM]} ({high})")
        for spin in self.custom:
            self.custom_layout.removeWidget(spin)
            spin.deleteLater()
        self.custom = []
        for channel in range(pixel_format.samples):
            spin = self._spin(low, high, "", "Custom value" if pixel_format.samples == 1 else
                              f"Custom value of channel {CHANNEL_NAMES[channel]}")
            if pixel_format.samples > 1:
                spin.setPrefix(f"{CHANNEL_NAMES[channel]} ")
            spin.valueChanged.connect(self._on_custom_changed)
            self.custom_layout.addWidget(spin)
            self.custom.append(spin)
        self._show_options(self.controller.options)

    def _on_custom_changed(self, _value: int) -> None:
        self.controller.set_options(custom=tuple(spin.value() for spin in self.custom))

    def _show_options(self, options: EditOptions) -> None:
        count = max(1, self.controller.state.num_frames)
        widgets = [self.brush_radius, self.line_width, self.rule, self.fill, self.scope, self.first, self.last,
                   *self.custom]
        with ExitStack() as blocked:
            for widget in widgets:
                blocked.enter_context(QSignalBlocker(widget))
            self.brush_radius.setValue(options.brush_radius)
            self.line_width.setValue(options.line_width)
            self.rule.setCurrentIndex(self.rule.findData(options.rule))
            self.fill.setCurrentIndex(self.fill.findData(options.fill))
            self.scope.setCurrentIndex(self.scope.findData(options.scope))
            for spin in (self.first, self.last):
                spin.setRange(1, count)
            self.first.setValue(options.first + 1)
            self.last.setValue(options.last + 1)
            for spin, value in zip(self.custom, options.custom):
                spin.setValue(value)
        self._show_enabled(self.controller.enabled)

    def _on_enabled_changed(self, enabled: bool) -> None:
        self._show_enabled(enabled)
        if enabled:
            self.show()  # entering read/write mode brings the tools' options up

    def _show_enabled(self, enabled: bool) -> None:
        self.widget().setEnabled(enabled)
        options = self.controller.options
        for spin in self.custom:
            spin.setEnabled(enabled and options.fill == CUSTOM)
        for spin in (self.first, self.last):
            spin.setEnabled(enabled and options.scope == FRAME_RANGE)
