"""The editing tools' logic (viewer.ui.edit_tools) with a recording canvas: no widgets, no document."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.model.editing import shapes
from viewer.ui import edit_tools
from viewer.ui.edit_tools import (
    ALL_FRAMES,
    CURRENT_FRAME,
    CUSTOM,
    FRAME_RANGE,
    MAXIMUM,
    BLACK,
    MINIMUM,
    ZERO,
    EditOptions,
    PixelFormat,
    fill_value,
    frames_for_scope,
    make_tool,
)

SHAPE = (40, 50)


class RecordingCanvas:
    """Records what the tools do, as the controller would apply it."""

    shape = SHAPE

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def fill(self, mask, label):
        assert isinstance(mask, shapes.BoxMask)  # the tools hand over the shape's box, not a frame-sized mask
        self.calls.append(("fill", mask.to_frame(SHAPE), label))

    def begin_stroke(self, label):
        self.calls.append(("begin", label))

    def commit_stroke(self):
        self.calls.append(("commit",))

    def abort_stroke(self):
        self.calls.append(("abort",))

    def kinds(self) -> list[str]:
        return [call[0] for call in self.calls]

    def union(self) -> np.ndarray:
        masks = [call[1] for call in self.calls if call[0] == "fill"]
        return np.logical_or.reduce(masks) if masks else np.zeros(SHAPE, bool)


@pytest.fixture
def canvas():
    return RecordingCanvas()


@pytest.mark.parametrize("pixel_format, expected", [
    (PixelFormat(8, False, 1), (0, 0, 255)),
    (PixelFormat(12, False, 1), (0, 0, 4095)),  # Bits Stored, not the uint16 dtype
    (PixelFormat(16, True, 1), (-32768, 0, 32767)),  # signed: the minimum is the negative limit
])
def test_fill_values_follow_bits_stored_and_sign(pixel_format, expected):
    assert tuple(fill_value(kind, pixel_format) for kind in (MINIMUM, ZERO, MAXIMUM)) == expected


def test_black_is_the_default_fill_and_the_documents_darkest_value():
    assert EditOptions().fill == BLACK
    assert fill_value(BLACK, PixelFormat(12, False, 1, black=4095)) == 4095  # MONOCHROME1
    assert fill_value(BLACK, PixelFormat(16, True, 1, black=-32768)) == -32768


def test_custom_values_are_clipped_and_given_per_channel():
    grey, rgb = PixelFormat(8, False, 1), PixelFormat(8, False, 3)
    assert fill_value(CUSTOM, grey, (300,)) == 255
    assert fill_value(CUSTOM, rgb, (10, 20, 30)) == (10, 20, 30)
    assert fill_value(CUSTOM, rgb, (7,)) == (7, 7, 7)  # one number for every channel
    assert fill_value(MAXIMUM, rgb) == 255  # a scalar fills every channel


def test_scopes():
    assert frames_for_scope(CURRENT_FRAME, 4, 0, 0, 10) == range(4, 5)
    assert frames_for_scope(FRAME_RANGE, 4, 7, 2, 10) == range(2, 8)  # reversed bounds are put in order
    assert frames_for_scope(FRAME_RANGE, 4, 5, 99, 10) == range(5, 10)
    assert frames_for_scope(ALL_FRAMES, 4, 0, 0, 10) == range(10)


def test_a_brush_drag_is_one_stroke_and_a_fast_jump_leaves_no_gap(canvas):
    brush = make_tool(edit_tools.BRUSH, canvas, EditOptions(brush_radius=2))
    brush.press((5, 5))
    brush.drag((5, 40))  # one big jump, as a fast drag gives
    brush.drag((30, 40))
    brush.release((30, 40))
    assert canvas.kinds() == ["begin", "fill", "fill", "fill", "commit"]
    expected = shapes.thick_line(SHAPE, (5, 5), (5, 40), 4) | shapes.thick_line(SHAPE, (5, 40), (30, 40), 4)
    np.testing.assert_array_equal(canvas.union(), expected)
    assert not brush.busy


def test_a_brush_click_paints_one_disc_and_escape_takes_a_stroke_back(canvas):
    brush = make_tool(edit_tools.BRUSH, canvas, EditOptions(brush_radius=3))
    brush.click((10, 10))
    assert canvas.kinds() == ["begin", "fill", "commit"]
    np.testing.assert_array_equal(canvas.calls[1][1], shapes.disc(SHAPE, (10, 10), 3))
    canvas.calls.clear()
    brush.press((20, 20))
    brush.drag((20, 25))
    assert brush.busy and brush.preview.kind == "disc"
    brush.cancel()
    brush.drag((20, 30))
    brush.release((20, 30))  # the rest of the cancelled drag does nothing
    assert canvas.kinds() == ["begin", "fill", "fill", "abort"]


@pytest.mark.parametrize("name", [edit_tools.LINE, edit_tools.RECTANGLE])
def test_line_and_rectangle_apply_on_release_and_preview_meanwhile(canvas, name):
    tool = make_tool(name, canvas, EditOptions(line_width=3))
    tool.press((2, 3))
    tool.drag((20, 30))
    assert tool.preview is not None and tool.preview.points == ((2, 3), (20, 30)) and not canvas.calls
    tool.release((20, 31))
    assert tool.preview is None
    expected = (shapes.thick_line(SHAPE, (2, 3), (20, 31), 3) if name == edit_tools.LINE
                else shapes.rectangle(SHAPE, (2, 3), (20, 31)))
    assert canvas.kinds() == ["fill"]
    np.testing.assert_array_equal(canvas.calls[0][1], expected)


def test_escape_during_a_rectangle_drag_applies_nothing(canvas):
    tool = make_tool(edit_tools.RECTANGLE, canvas, EditOptions())
    tool.press((2, 3))
    tool.drag((9, 9))
    tool.cancel()
    tool.release((9, 9))
    assert not canvas.calls and tool.preview is None


def test_polygon_by_clicks_closes_on_double_click_or_enter(canvas):
    options = EditOptions(rule=shapes.EVEN_ODD)
    polygon = make_tool(edit_tools.POLYGON, canvas, options)
    for vertex in ((5, 5), (5, 30)):
        polygon.click(vertex)
    polygon.finish()  # two corners: nothing to fill yet
    assert not canvas.calls and polygon.busy
    polygon.hover((25, 20))
    assert polygon.preview.points == ((5, 5), (5, 30), (25, 20)) and not polygon.preview.closed
    polygon.click((30, 30))
    polygon.double_click((30, 5))  # the first click of a double-click already placed this corner
    polygon.double_click((30, 5))
    assert canvas.kinds() == ["fill"]
    np.testing.assert_array_equal(
        canvas.calls[0][1], shapes.polygon(SHAPE, [(5, 5), (5, 30), (30, 30), (30, 5)], shapes.EVEN_ODD))
    polygon.click((1, 1))
    polygon.cancel()
    assert not polygon.busy and polygon.preview is None


def test_navigate_is_no_tool_and_unknown_tools_are_refused(canvas):
    assert make_tool(edit_tools.NAVIGATE, canvas, EditOptions()) is None
    with pytest.raises(ValueError):
        make_tool("lasso", canvas, EditOptions())
