"""Rasterised shapes (viewer.model.editing.shapes) against pixel-by-pixel references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viewer.model.editing import shapes

SHAPE = (24, 30)


def _segment_distance(point, start, end) -> float:
    (pr, pc), (r0, c0), (r1, c1) = point, start, end
    d_row, d_col = r1 - r0, c1 - c0
    length2 = d_row * d_row + d_col * d_col
    along = 0.0 if length2 == 0 else min(1.0, max(0.0, ((pr - r0) * d_row + (pc - c0) * d_col) / length2))
    return math.hypot(pr - (r0 + along * d_row), pc - (c0 + along * d_col))


def _winding(point, vertices) -> tuple[int, int]:
    """(crossings to the left, winding number) of a horizontal ray from `point` to the left."""
    row, col = point
    crossings = winding = 0
    for (r0, c0), (r1, c1) in zip(vertices, vertices[1:] + vertices[:1]):
        if r0 == r1 or not min(r0, r1) <= row < max(r0, r1):
            continue
        column = c0 + (row - r0) / (r1 - r0) * (c1 - c0)
        if column <= col + 1e-9:
            crossings += 1
            winding += 1 if r1 > r0 else -1
    return crossings, winding


def _reference(shape, inside) -> np.ndarray:
    return np.array([[inside((row, col)) for col in range(shape[1])] for row in range(shape[0])], dtype=bool)


def test_disc_of_radius_two_is_the_thirteen_pixel_diamond():
    mask = shapes.disc(SHAPE, (10, 12), 2)
    assert mask.dtype == np.bool_ and mask.shape == SHAPE
    rows, cols = np.nonzero(mask)
    assert mask.sum() == 13
    assert set(zip(rows.tolist(), cols.tolist())) == {
        (10 + dr, 12 + dc) for dr in range(-2, 3) for dc in range(-2, 3) if dr * dr + dc * dc <= 4
    }


def test_disc_of_radius_zero_is_one_pixel_and_a_disc_off_the_frame_is_clipped():
    assert list(zip(*np.nonzero(shapes.disc(SHAPE, (3, 4), 0)))) == [(3, 4)]
    corner = shapes.disc(SHAPE, (0, 0), 3)
    assert corner.sum() == sum(1 for r in range(4) for c in range(4) if r * r + c * c <= 9)
    assert not shapes.disc(SHAPE, (-10, -10), 3).any()


@pytest.mark.parametrize("start, end, width", [((2, 3), (20, 25), 1), ((5, 5), (5, 25), 3), ((22, 1), (1, 8), 4.5),
                                                ((12, 12), (12, 12), 6), ((-3, -4), (30, 40), 2)])
def test_thick_line_covers_pixel_centres_within_half_the_width(start, end, width):
    expected = _reference(SHAPE, lambda p: _segment_distance(p, start, end) <= width / 2 + 1e-9)
    np.testing.assert_array_equal(shapes.thick_line(SHAPE, start, end, width), expected)


@pytest.mark.parametrize("end", [(20, 3), (17, 29), (1, 29), (23, 11)])
def test_a_one_pixel_line_has_no_gaps(end):
    mask = shapes.thick_line(SHAPE, (2, 3), end, 1)
    rows, cols = np.nonzero(mask)
    steep = abs(end[0] - 2) >= abs(end[1] - 3)
    covered = set(rows.tolist()) if steep else set(cols.tolist())
    first, last = (2, end[0]) if steep else (3, end[1])
    assert covered == set(range(min(first, last), max(first, last) + 1))


def test_rectangle_includes_both_corner_pixels_in_any_drag_direction():
    mask = shapes.rectangle(SHAPE, (15.4, 20.2), (3.6, 2.5))  # pixels 15..4 rows, 20..3 cols (rounded half up)
    expected = np.zeros(SHAPE, bool)
    expected[4:16, 3:21] = True
    np.testing.assert_array_equal(mask, expected)
    clipped = shapes.rectangle(SHAPE, (-5, -5), (2, 100))
    assert clipped.sum() == 3 * SHAPE[1] and clipped[:3].all()
    assert not shapes.rectangle(SHAPE, (-9, -9), (-2, -3)).any()


def test_polygon_square_through_pixel_centres_covers_its_corners():
    square = [(2, 3), (2, 9), (8, 9), (8, 3)]
    mask = shapes.polygon(SHAPE, square)
    expected = np.zeros(SHAPE, bool)
    expected[2:9, 3:10] = True
    np.testing.assert_array_equal(mask, expected)
    inner = shapes.polygon(SHAPE, square, outline=False)  # top-left rule: the far edges are outside
    expected_inner = np.zeros(SHAPE, bool)
    expected_inner[2:8, 3:9] = True
    np.testing.assert_array_equal(inner, expected_inner)


def test_self_intersecting_star_differs_between_fill_rules():
    star = [(2, 12), (20, 20), (8, 2), (8, 22), (20, 4)]  # a pentagram
    nonzero = shapes.polygon(SHAPE, star, shapes.NONZERO, outline=False)
    even_odd = shapes.polygon(SHAPE, star, shapes.EVEN_ODD, outline=False)
    assert nonzero[11, 12] and not even_odd[11, 12]  # the centre is enclosed twice
    assert (even_odd & ~nonzero).sum() == 0
    np.testing.assert_array_equal(nonzero, _reference(SHAPE, lambda p: _winding(p, star)[1] != 0))
    np.testing.assert_array_equal(even_odd, _reference(SHAPE, lambda p: _winding(p, star)[0] % 2 == 1))


def test_degenerate_polygons_give_their_outline():
    assert list(zip(*np.nonzero(shapes.polygon(SHAPE, [(4, 4)])))) == [(4, 4)]
    np.testing.assert_array_equal(shapes.polygon(SHAPE, [(4, 4), (4, 10)]), shapes.thick_line(SHAPE, (4, 4), (4, 10), 1))
    assert not shapes.polygon(SHAPE, []).any()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        shapes.polygon(SHAPE, [(1, 1), (5, 5), (1, 5)], "winding")
    with pytest.raises(ValueError):
        shapes.thick_line(SHAPE, (0, 0), (1, 1), -1)
    with pytest.raises(ValueError):
        shapes.disc(SHAPE, (float("nan"), 0), 1)


coordinate = st.floats(-6, 36, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=8), st.sampled_from([shapes.NONZERO, shapes.EVEN_ODD]))
def test_random_polygons_match_ray_casting(vertices, rule):
    index = 1 if rule == shapes.NONZERO else 0
    expected = _reference(SHAPE, lambda p: (_winding(p, vertices)[index] != 0) if index else
                          _winding(p, vertices)[0] % 2 == 1)
    np.testing.assert_array_equal(shapes.polygon(SHAPE, vertices, rule, outline=False), expected)


def test_box_forms_cost_the_shape_not_the_frame():
    huge = (30000, 30000)
    dab = shapes.disc_box(huge, (15000, 20000), 5)
    assert dab.mask.shape == (11, 11) and (dab.top, dab.left) == (14995, 19995)
    line = shapes.thick_line_box(huge, (10, 10), (10, 500), 3)
    assert (line.top, line.left, line.mask.shape) == (9, 9, (3, 493)) and line.mask.all(axis=0).sum() > 480
    rect = shapes.rectangle_box(huge, (29990, 29990), (40000, 40000))  # clipped at the frame's corner
    assert (rect.top, rect.left, rect.mask.shape) == (29990, 29990, (10, 10)) and rect.mask.all()
    poly = shapes.polygon_box(huge, [(100, 100), (100, 300), (250, 200)])
    assert (poly.top, poly.left) == (100, 100) and poly.mask.shape == (151, 201)
    assert shapes.disc_box(huge, (-50, -50), 3).mask.size == 0

