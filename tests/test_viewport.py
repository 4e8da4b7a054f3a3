"""The viewport plan: which region, level and stride a view of a frame needs."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from viewer.model.display import pyramid
from viewer.model.display.viewport import ViewRequest, choose_level, fits_screen, plan_view

HUGE = (30000, 30000)


def test_fit_to_window_of_a_30k_frame_takes_the_coarsest_level_with_a_pixel_per_screen_pixel():
    request = plan_view(HUGE, (0, 0, 30000, 30000), (1000, 800), levels=7)
    assert (request.level, request.step) == (5, 1)  # 37.5 frame pixels per screen pixel: 32x blocks
    assert request.shape == (938, 938)
    x, y, width, height = request.rect
    assert (x, y) == (0, 0) and width == height == 938 * 32 >= 30000


def test_the_device_pixel_ratio_asks_for_a_finer_level():
    assert plan_view(HUGE, (0, 0, 30000, 30000), (2000, 1600), levels=7).level == 4


def test_one_to_one_reads_the_visible_pixels_only():
    request = plan_view(HUGE, (12000.5, 7000, 13000.5, 7800), (1000, 800), levels=7)
    assert (request.level, request.step) == (0, 1)
    assert request.rows == (7000, 7800) and request.cols == (12000, 13001)


def test_without_levels_the_stride_does_the_work_and_a_capped_level_gets_help():
    assert choose_level(37.5, 0) == (0, 37)
    assert choose_level(37.5, 3) == (3, 4)
    assert choose_level(0.25, 7) == (0, 1)  # zoomed in: full resolution


def test_regions_start_on_the_stride_and_stay_inside_the_frame():
    request = plan_view(HUGE, (-5000, 29000, 3000, 36000), (300, 200), levels=0)
    assert request.step == 35 and request.rows[0] % 35 == 0 and request.cols[0] == 0
    assert request.rows[1] == 30000 and request.cols[1] == 3000


def test_a_view_entirely_off_the_frame_still_names_a_pixel():
    request = plan_view((100, 100), (500, 500, 600, 600), (100, 100))
    assert request.shape == (1, 1)


def test_margin_and_covers():
    near = plan_view(HUGE, (10000, 10000, 11000, 10800), (1000, 800), margin=0.25)
    assert near.rows == (9800, 11000) and near.cols == (9750, 11250)
    panned = plan_view(HUGE, (10100, 10050, 11100, 10850), (1000, 800))
    assert near.covers(panned) and not panned.covers(near)
    zoomed = plan_view(HUGE, (10000, 10000, 12000, 11600), (1000, 800))
    assert not near.covers(zoomed)


def test_small_frames_are_drawn_whole():
    assert fits_screen((512, 512), (1100, 800)) and fits_screen((1024, 1024), (1016, 696))
    assert not fits_screen((2048, 2048), (1100, 800)) and not fits_screen(HUGE, (3840, 2160))
    assert not fits_screen((1024, 1024), (500, 400))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 70000), st.integers(1, 70000), st.floats(-1e5, 1e5), st.floats(-1e5, 1e5),
       st.floats(1, 1e5), st.integers(50, 4000), st.integers(50, 3000), st.booleans())
def test_the_image_is_about_the_screen_size_and_never_coarser_than_it(rows, cols, x0, y0, width, screen_w,
                                                                      screen_h, with_levels):
    height = width * screen_h / screen_w
    view = (x0, y0, x0 + width, y0 + height)
    levels = pyramid.top_level((rows, cols)) if with_levels else 0
    request = plan_view((rows, cols), view, (screen_w, screen_h), levels=levels)
    scale = max(width / screen_w, height / screen_h)
    assert request.pixel_size <= max(1.0, scale)  # at least one fetched pixel per screen pixel
    level_rows = -(-rows // (1 << request.level))
    assert 0 <= request.rows[0] < request.rows[1] <= level_rows and request.rows[0] % request.step == 0
    fetched_rows, fetched_cols = request.shape
    # No more than twice the screen per axis, plus the pixels cut at the region's ends.
    assert fetched_rows <= 2 * screen_h + 2 and fetched_cols <= 2 * screen_w + 2 or request.pixel_size == 1 \
        and fetched_rows <= math.ceil(height) + 2 and fetched_cols <= math.ceil(width) + 2
    assert isinstance(request, ViewRequest)


def test_a_playing_cine_takes_the_stride_that_fits_the_screen():
    assert choose_level(2.94, 0, coarse=True) == (0, 3)
    assert choose_level(3.0, 0, coarse=True) == (0, 3)
    request = plan_view((2048, 2048), (0, 0, 2048, 2048), (700, 700), coarse=True)
    assert request.shape == (683, 683)  # not the 1,024 of the still view: at most the screen
