"""What the editing tools do with a press, drag, click or key: no Qt here.

The image view turns mouse events into pixels ``(row, col)`` (the pixel
under the pointer) and calls the active :class:`Tool`. A tool turns them into
boolean masks of the shape's bounding box
(:class:`viewer.model.editing.shapes.BoxMask`: a brush dab on a 30,000 x
30,000 frame costs the dab, not the frame) and hands those to a
:class:`Canvas`, which applies them to the document with the fill value and
frames chosen in the panel. A tool also describes what to draw before it
applies anything (:class:`Preview`).

Gestures
--------
* Brush: a press and drag paints discs joined by the segments between
  successive pointer positions (a fast drag leaves no gaps); the whole drag
  is one stroke, that is one undo step. A click paints one disc.
* Line and Rectangle: drag from one end (corner) to the other.
* Polygon: click the corners; double-click or Enter closes and fills it.
* Escape cancels whatever is under way (a brush stroke is taken back).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol, Sequence


from viewer.model.editing import shapes
from viewer.model.dicom.geometry import stored_limits

NAVIGATE, BRUSH, LINE, RECTANGLE, POLYGON = "navigate", "brush", "line", "rectangle", "polygon"
TOOLS = (NAVIGATE, BRUSH, LINE, RECTANGLE, POLYGON)
TOOL_LABELS = {NAVIGATE: "Navigate", BRUSH: "Brush", LINE: "Line", RECTANGLE: "Rectangle", POLYGON: "Polygon"}

BLACK, MINIMUM, ZERO, MAXIMUM, CUSTOM = "black", "minimum", "zero", "maximum", "custom"
FILL_LABELS = {BLACK: "Black", MINIMUM: "Minimum", ZERO: "Zero", MAXIMUM: "Maximum", CUSTOM: "Custom"}

CURRENT_FRAME, FRAME_RANGE, ALL_FRAMES = "current", "range", "all"
SCOPE_LABELS = {CURRENT_FRAME: "Current frame", FRAME_RANGE: "Frame range", ALL_FRAMES: "All frames"}

Pixel = tuple[int, int]


@dataclass(frozen=True)
class EditOptions:
    """The panel's choices: sizes, fill value and frames.

    Attributes
    ----------
    brush_radius : int
        Pixels; 0 paints single pixels.
    line_width : int
        Pixels.
    fill : str
        :data:`BLACK` (the value shown darkest: the maximum for MONOCHROME1),
        :data:`MINIMUM`, :data:`ZERO`, :data:`MAXIMUM` or :data:`CUSTOM`.
    custom : tuple of int
        The custom value, one per sample (three for RGB).
    scope : str
        :data:`CURRENT_FRAME`, :data:`FRAME_RANGE` or :data:`ALL_FRAMES`.
    first, last : int
        The frame range, 0-based and inclusive.
    rule : str
        The polygon fill rule (:data:`viewer.model.editing.shapes.NONZERO` or ``EVEN_ODD``).
    """

    brush_radius: int = 5
    line_width: int = 3
    fill: str = BLACK
    custom: tuple[int, ...] = (0,)
    scope: str = CURRENT_FRAME
    first: int = 0
    last: int = 0
    rule: str = shapes.NONZERO

    def replace(self, **changes) -> "EditOptions":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PixelFormat:
    """What values a document's pixels can hold: Bits Stored, signedness, samples, and which is black."""

    bits_stored: int = 8
    signed: bool = False
    samples: int = 1
    black: int = 0

    @classmethod
    def of(cls, document) -> "PixelFormat":
        geometry = document.geometry if document is not None else None
        if geometry is None:
            return cls()
        return cls(
            geometry.bits_stored, bool(geometry.pixel_representation), geometry.samples_per_pixel, document.black_value
        )

    @property
    def limits(self) -> tuple[int, int]:
        """The smallest and largest value Bits Stored allows (:func:`viewer.model.dicom.geometry.stored_limits`)."""
        return stored_limits(self.bits_stored, self.signed)


def fill_value(fill: str, pixel_format: PixelFormat, custom: Sequence[int] = (0,)) -> int | tuple[int, ...]:
    """The value a fill choice stands for: a number, or one per sample for a custom colour."""
    low, high = pixel_format.limits
    if fill == BLACK:
        return pixel_format.black
    if fill == MINIMUM:
        return low
    if fill == MAXIMUM:
        return high
    if fill == ZERO:
        return 0
    if fill != CUSTOM:
        raise ValueError(f"unknown fill {fill!r}")
    values = [min(high, max(low, int(value))) for value in custom] or [0]
    samples = pixel_format.samples
    if samples == 1:
        return values[0]
    if len(values) == 1:
        values *= samples  # one number for every channel
    return tuple((values + [0] * samples)[:samples])


def frames_for_scope(scope: str, current: int, first: int, last: int, count: int) -> range:
    """The frames a scope means, clipped to ``range(count)`` (a reversed range is put in order)."""
    if scope == CURRENT_FRAME:
        return range(current, current + 1) if 0 <= current < count else range(0)
    if scope == ALL_FRAMES:
        return range(count)
    if scope != FRAME_RANGE:
        raise ValueError(f"unknown scope {scope!r}")
    low, high = sorted((int(first), int(last)))
    return range(max(0, low), min(count, high + 1))


@dataclass(frozen=True)
class Preview:
    """What to draw before (or while) a tool applies, in pixel coordinates.

    Attributes
    ----------
    kind : str
        "disc", "line", "rectangle" or "polygon".
    points : tuple of (row, col)
        Centre (disc), ends (line), corners (rectangle) or vertices (polygon;
        the last one follows the pointer while the polygon is open).
    size : float
        Radius of a disc, width of a line.
    closed : bool
        False while a polygon's corners are still being placed.
    """

    kind: str
    points: tuple[Pixel, ...]
    size: float = 0.0
    closed: bool = True


class Canvas(Protocol):
    """Where tools apply their masks (the controller, which knows value and frames)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of a frame."""

    def fill(self, mask: shapes.BoxMask, label: str) -> None: ...

    def begin_stroke(self, label: str) -> None: ...

    def commit_stroke(self) -> None: ...

    def abort_stroke(self) -> None: ...


class Tool:
    """Base of the drawing tools: every gesture is ignored unless a subclass handles it."""

    name = NAVIGATE

    def __init__(self, canvas: Canvas, options: EditOptions) -> None:
        self.canvas = canvas
        self.options = options
        self.hovered: Pixel | None = None

    @property
    def label(self) -> str:
        return TOOL_LABELS[self.name]

    @property
    def busy(self) -> bool:
        """True while a gesture is under way (Escape has something to cancel)."""
        return False

    @property
    def preview(self) -> Preview | None:
        return None

    def hover(self, pixel: Pixel) -> None:
        self.hovered = pixel

    def leave(self) -> None:
        self.hovered = None

    def press(self, pixel: Pixel) -> None:
        """A drag starts at `pixel` (where the button went down)."""

    def drag(self, pixel: Pixel) -> None:
        """The pointer moved to `pixel` with the button held."""

    def release(self, pixel: Pixel) -> None:
        """The drag ended at `pixel`."""

    def click(self, pixel: Pixel) -> None:
        """A click without a drag."""

    def double_click(self, pixel: Pixel) -> None:
        self.click(pixel)

    def finish(self) -> None:
        """Enter: complete what is under way."""

    def cancel(self) -> None:
        """Escape: drop what is under way."""


class BrushTool(Tool):
    """Discs of :attr:`EditOptions.brush_radius` along the pointer's path, one stroke per drag."""

    name = BRUSH

    def __init__(self, canvas: Canvas, options: EditOptions) -> None:
        super().__init__(canvas, options)
        self._last: Pixel | None = None

    @property
    def busy(self) -> bool:
        return self._last is not None

    @property
    def preview(self) -> Preview | None:
        centre = self._last if self._last is not None else self.hovered
        return Preview("disc", (centre,), self.options.brush_radius) if centre is not None else None

    def click(self, pixel: Pixel) -> None:
        self.press(pixel)
        self.release(pixel)

    def press(self, pixel: Pixel) -> None:
        self.cancel()
        self.canvas.begin_stroke(self.label)
        self._last = pixel
        self._paint(pixel, pixel)

    def drag(self, pixel: Pixel) -> None:
        if self._last is not None and pixel != self._last:
            self._paint(self._last, pixel)
            self._last = pixel

    def release(self, pixel: Pixel) -> None:
        if self._last is None:
            return  # cancelled during the drag
        self.drag(pixel)
        self._last = None
        self.canvas.commit_stroke()

    def cancel(self) -> None:
        if self._last is not None:
            self._last = None
            self.canvas.abort_stroke()

    def _paint(self, start: Pixel, end: Pixel) -> None:
        # A capsule of the brush's width joins this dab to the last one, so
        # the stroke is continuous however far the pointer jumped.
        width = max(2 * self.options.brush_radius, 1)
        self.canvas.fill(shapes.thick_line_box(self.canvas.shape, start, end, width), self.label)


class _DragShapeTool(Tool):
    """A shape dragged from `anchor` to the pointer, applied on release."""

    def __init__(self, canvas: Canvas, options: EditOptions) -> None:
        super().__init__(canvas, options)
        self._drag: tuple[Pixel, Pixel] | None = None  # (anchor, pointer) while a drag is under way

    @property
    def busy(self) -> bool:
        return self._drag is not None

    def press(self, pixel: Pixel) -> None:
        self._drag = (pixel, pixel)

    def drag(self, pixel: Pixel) -> None:
        if self._drag is not None:
            self._drag = (self._drag[0], pixel)

    def release(self, pixel: Pixel) -> None:
        if self._drag is None:
            return
        anchor, _ = self._drag
        self._drag = None
        self.canvas.fill(self._mask(anchor, pixel), self.label)

    def cancel(self) -> None:
        self._drag = None

    def _mask(self, start: Pixel, end: Pixel) -> shapes.BoxMask:
        raise NotImplementedError


class LineTool(_DragShapeTool):
    """A straight line of :attr:`EditOptions.line_width` with round ends."""

    name = LINE

    @property
    def preview(self) -> Preview | None:
        if self._drag is None:
            return None
        return Preview("line", self._drag, self.options.line_width)

    def _mask(self, start: Pixel, end: Pixel) -> shapes.BoxMask:
        return shapes.thick_line_box(self.canvas.shape, start, end, max(self.options.line_width, 1))


class RectangleTool(_DragShapeTool):
    """Every pixel from the press's pixel to the release's."""

    name = RECTANGLE

    @property
    def preview(self) -> Preview | None:
        return Preview("rectangle", self._drag) if self._drag is not None else None

    def _mask(self, start: Pixel, end: Pixel) -> shapes.BoxMask:
        return shapes.rectangle_box(self.canvas.shape, start, end)


class PolygonTool(Tool):
    """Corners by clicks; double-click or Enter fills it (at least three corners)."""

    name = POLYGON

    def __init__(self, canvas: Canvas, options: EditOptions) -> None:
        super().__init__(canvas, options)
        self.vertices: list[Pixel] = []

    @property
    def busy(self) -> bool:
        return bool(self.vertices)

    @property
    def preview(self) -> Preview | None:
        if not self.vertices:
            return None
        points = list(self.vertices)
        if self.hovered is not None and self.hovered != points[-1]:
            points.append(self.hovered)
        return Preview("polygon", tuple(points), closed=False)

    def click(self, pixel: Pixel) -> None:
        if not self.vertices or self.vertices[-1] != pixel:
            self.vertices.append(pixel)

    def press(self, pixel: Pixel) -> None:
        self.click(pixel)  # a click that wobbled into a drag still places a corner

    def double_click(self, pixel: Pixel) -> None:
        self.click(pixel)
        self.finish()

    def finish(self) -> None:
        if len(self.vertices) < 3:
            return
        vertices, self.vertices = self.vertices, []
        self.canvas.fill(shapes.polygon_box(self.canvas.shape, vertices, self.options.rule), self.label)

    def cancel(self) -> None:
        self.vertices = []


TOOL_CLASSES: dict[str, type[Tool]] = {
    BRUSH: BrushTool, LINE: LineTool, RECTANGLE: RectangleTool, POLYGON: PolygonTool,
}


def make_tool(name: str, canvas: Canvas, options: EditOptions) -> Tool | None:
    """The tool called `name` (None for :data:`NAVIGATE`)."""
    if name == NAVIGATE:
        return None
    try:
        return TOOL_CLASSES[name](canvas, options)
    except KeyError:
        raise ValueError(f"unknown tool {name!r}") from None
