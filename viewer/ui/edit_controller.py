"""The editing tools' controller: the active tool, the panel's options, the document they edit.

:class:`EditController` is the :class:`~viewer.ui.edit_tools.Canvas` the
tools draw on: it turns the panel's fill choice into a value of the pixel
type and the frame scope into frames, and calls the document's editing API.
The document decides whether editing is allowed; the controller only
follows its mode (tools work in read/write mode and fall back to Navigate
when the document becomes read-only) and reports refusals through
:attr:`EditController.failed`.

The image view calls the pointer methods (``press``, ``drag``, ...) with
pixel positions while :attr:`EditController.drawing` is True.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from viewer.model import DicomError
from viewer.model.editing import shapes
from viewer.model.view.captions import frame_number, frames_phrase
from viewer.ui.edit_tools import (
    NAVIGATE,
    EditOptions,
    Pixel,
    PixelFormat,
    Tool,
    fill_value,
    frames_for_scope,
    make_tool,
)
from viewer.model.view import ViewerModel


class EditController(QObject):
    """The active editing tool and its options, for the state's document.

    Signals
    -------
    tool_changed(str)
        The active tool's name (:data:`~viewer.ui.edit_tools.NAVIGATE` for none).
    options_changed(object)
        The new :class:`~viewer.ui.edit_tools.EditOptions`.
    preview_changed(object)
        A :class:`~viewer.ui.edit_tools.Preview` to draw, or None.
    enabled_changed(bool)
        Whether tools can be used (the document is in read/write mode).
    format_changed(object)
        The document's :class:`~viewer.ui.edit_tools.PixelFormat`.
    failed(object)
        An edit was refused: the exception, for a dialog.
    applied(str)
        Where an edit went, when that is not (only) the frame shown, for the status bar.
    """

    tool_changed = Signal(str)
    options_changed = Signal(object)
    preview_changed = Signal(object)
    enabled_changed = Signal(bool)
    format_changed = Signal(object)
    failed = Signal(object)
    applied = Signal(str)

    def __init__(self, state: ViewerModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.options = EditOptions()
        self.pixel_format = PixelFormat()
        self.tool_name = NAVIGATE
        self.tool: Tool | None = None
        self.enabled = False
        self._stroke_frames: range | None = None
        state.document_changed.connect(self._on_document_changed)
        state.mode_changed.connect(self._on_mode_changed)
        self._on_document_changed(state.document)

    # ------------------------------------------------------------- choices
    def set_tool(self, name: str) -> None:
        """Make `name` the active tool, dropping any gesture of the previous one."""
        if name == self.tool_name:
            return
        tool = make_tool(name, self, self.options)  # raises for an unknown name before anything changes
        self._drop_gesture()
        self.tool, self.tool_name = tool, name
        self.tool_changed.emit(name)
        self.preview_changed.emit(None)

    def set_options(self, **changes) -> None:
        """Change some of the :class:`EditOptions` (keyword arguments named as its fields)."""
        options = self.options.replace(**changes)
        if options == self.options:
            return
        self.options = options
        if self.tool is not None:
            self.tool.options = options
        self.options_changed.emit(options)
        self._emit_preview()

    def value(self) -> int | tuple[int, ...]:
        """The fill value the options stand for, in the document's pixel format."""
        return fill_value(self.options.fill, self.pixel_format, self.options.custom)

    def frames(self) -> range:
        """The frames the options' scope stands for, now."""
        options = self.options
        return frames_for_scope(options.scope, self.state.frame_index, options.first, options.last,
                                self.state.num_frames)

    @property
    def drawing(self) -> bool:
        """True if the left button draws with a tool instead of panning."""
        document = self.state.document
        return self.tool is not None and document is not None and document.writable

    # -------------------------------------------------------------- canvas
    @property
    def shape(self) -> tuple[int, int]:
        document = self.state.document
        return tuple(document.frame_shape[:2]) if document is not None else (0, 0)

    def fill(self, mask: shapes.BoxMask | np.ndarray, label: str) -> None:
        """Apply a shape (a :class:`~viewer.model.editing.shapes.BoxMask`, or a full-frame mask)."""
        stroke_frames = self._stroke_frames
        frames = stroke_frames if stroke_frames is not None else self.frames()
        document = self._document()
        if isinstance(mask, shapes.BoxMask):
            document.apply_mask(mask.mask, self.value(), frames, label=self.where(label, frames),
                                origin=(mask.top, mask.left))
        else:
            document.apply_mask(mask, self.value(), frames, label=self.where(label, frames))
        if stroke_frames is None:
            self._announce(label, frames)

    def begin_stroke(self, label: str) -> None:
        frames = self._stroke_frames = self.frames()  # the frames at the press, even if the frame changes meanwhile
        self._document().begin_stroke(self.where(label, frames))
        self._announce(label, frames)

    def where(self, label: str, frames: range) -> str:
        """`label` for the Edit menu, naming the frames when they are not just the one shown.

        "Rectangle" on the frame shown; "Rectangle on frames 10-20" (counted
        from 1) otherwise, so that Undo says what it takes back.
        """
        if list(frames) == [self.state.frame_index]:
            return label
        return f"{label} on {frames_phrase(frames, self.state.num_frames)}"

    def _announce(self, label: str, frames: range) -> None:
        """Say in the status bar where an edit went when that is not (only) the frame shown."""
        shown = self.state.frame_index
        if list(frames) == [shown]:
            return
        text = f"{label} applied to {frames_phrase(frames, self.state.num_frames)}"
        if shown not in frames:
            text += f"; frame {frame_number(shown)}, on screen, is unchanged"
        self.applied.emit(text)

    def commit_stroke(self) -> None:
        self._stroke_frames = None
        self._document().commit_stroke()

    def abort_stroke(self) -> None:
        self._stroke_frames = None
        self._document().abort_stroke()

    def _document(self):
        document = self.state.document
        if document is None:
            raise DicomError(None, "no file is open")
        return document

    # ------------------------------------------------------------- pointer
    def hover(self, pixel: Pixel) -> None:
        self._route("hover", pixel)

    def leave(self) -> None:
        self._route("leave")

    def press(self, pixel: Pixel) -> None:
        self._route("press", pixel)

    def drag(self, pixel: Pixel) -> None:
        self._route("drag", pixel)

    def release(self, pixel: Pixel) -> None:
        self._route("release", pixel)

    def click(self, pixel: Pixel) -> None:
        self._route("click", pixel)

    def double_click(self, pixel: Pixel) -> None:
        self._route("double_click", pixel)

    def finish(self) -> None:
        """Enter: complete the tool's gesture (close a polygon)."""
        self._route("finish")

    def cancel(self) -> None:
        """Escape: drop the tool's gesture (a brush stroke is taken back)."""
        self._route("cancel")

    @property
    def busy(self) -> bool:
        return self.tool is not None and self.tool.busy

    def _route(self, gesture: str, *args) -> None:
        if not self.drawing:
            return
        try:
            getattr(self.tool, gesture)(*args)
        except (DicomError, ValueError) as exc:
            self._drop_gesture()
            self.failed.emit(exc)
        self._emit_preview()

    def _emit_preview(self) -> None:
        tool = self.tool
        self.preview_changed.emit(tool.preview if tool is not None and self.drawing else None)

    def _drop_gesture(self) -> None:
        """Forget the tool's gesture; take back an open stroke if the document still can."""
        self._stroke_frames = None
        if self.tool is not None:
            self.tool = make_tool(self.tool_name, self, self.options)
        document = self.state.document
        if document is not None and document.writable:
            try:
                document.abort_stroke()
            except DicomError:
                pass

    # ------------------------------------------------------------ document
    def _on_document_changed(self, document) -> None:
        self.set_tool(NAVIGATE)
        self._drop_gesture()
        self.pixel_format = PixelFormat.of(document)
        low, high = self.pixel_format.limits
        samples = self.pixel_format.samples
        clipped = [min(high, max(low, value)) for value in self.options.custom]
        custom = tuple((clipped * samples)[:samples]) if len(clipped) < samples else tuple(clipped[:samples])
        count = document.num_frames if document is not None else 0
        self.format_changed.emit(self.pixel_format)
        self.set_options(custom=custom, first=0, last=max(0, count - 1))
        self._on_mode_changed(document.writable if document is not None else False)

    def _on_mode_changed(self, writable: bool) -> None:
        if not writable:
            self.set_tool(NAVIGATE)
        if bool(writable) != self.enabled:
            self.enabled = bool(writable)
            self.enabled_changed.emit(self.enabled)
        self._emit_preview()
