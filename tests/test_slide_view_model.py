"""The whole-slide view's logic without Qt: level choice, tiles to fetch, painting order, scale bar, readout."""

from __future__ import annotations

import threading

import pytest

from viewer.model import open_slide
from viewer.model.slide import label_mask
from viewer.model.view import slide_view
from viewer.model.view.slide_view import LevelGeometry, compose, plan_tiles, scale_bar
from viewer.model.view.tile_fetch import TileFetcher
from viewer.synthetic.slide import write_slide


def pyramid(width=10_000, height=6_000, tile=256, count=5) -> list[LevelGeometry]:
    levels, size = [], (width, height)
    for index in range(count):
        levels.append(LevelGeometry(index, size, (tile, tile), width / size[0]))
        size = ((size[0] + 1) // 2, (size[1] + 1) // 2)
    return levels


LEVELS = pyramid()


# -------------------------------------------------------------------- level
@pytest.mark.parametrize("scale, level", [(0.25, 0), (1.0, 0), (1.99, 0), (2.0, 1), (3.9, 1), (4.0, 2), (15.9, 3),
                                          (16.0, 4), (1000.0, 4)])
def test_best_level_is_the_coarsest_not_above_the_scale(scale, level):
    assert slide_view.best_level(LEVELS, scale) == level


def test_best_level_agrees_with_the_slide(tmp_path):
    files = write_slide(tmp_path / "s", width=1900, height=1300, levels=4, associated=False)
    with open_slide(files.folder) as slide:
        levels = slide_view.geometries(slide.levels)
        for scale in (0.5, 1, 1.5, 2, 2.01, 3.99, 4, 7, 8, 9, 100):
            assert slide_view.best_level(levels, scale) == slide.best_level_for_downsample(scale)


def test_screen_scale_counts_physical_pixels():
    # 2000 x 1000 level-0 pixels on a 1000 x 500 logical view at device pixel ratio 2: one pixel per pixel.
    assert slide_view.screen_scale((0, 0, 2000, 1000), (2000, 1000)) == 1.0
    assert slide_view.screen_scale((0, 0, 2000, 1000), (1000, 500)) == 2.0
    assert slide_view.screen_scale((0, 0, 2000, 500), (1000, 1000)) == 2.0  # the larger axis


# -------------------------------------------------------------------- tiles
def test_tile_rects_and_tiles_in_a_rectangle():
    level = LEVELS[1]  # 5000 x 3000 pixels of 2 level-0 pixels, tiles of 512 level-0 pixels
    assert level.grid_shape == (12, 20)
    assert level.tile_rect(0, 0) == (0, 0, 512, 512)
    assert level.tile_rect(11, 19) == (19 * 512, 11 * 512, 10_000, 6_000)  # the last tile: no padding
    assert level.tiles_in((511, 0, 513, 1)) == [(0, 0), (0, 1)]
    assert level.tiles_in((-500, -500, 1, 1)) == [(0, 0)]
    assert level.tiles_in((20_000, 0, 30_000, 10)) == []
    assert level.pixel_at(1023.9, 3) == (1, 511) and level.pixel_at(10_000, 0) is None


def test_plan_wants_the_visible_tiles_of_the_level_centre_first_then_margin_after_a_coarse_fallback():
    view = (2000, 1000, 4000, 2200)  # 2000 x 1200 level-0 pixels on 1000 x 600 screen pixels: level 1
    plan = plan_tiles(LEVELS, view, (1000, 600), margin=0.25)
    assert plan.level == 1
    visible = {(1, row, col) for row, col in LEVELS[1].tiles_in(view)}
    assert set(plan.visible) == visible and len(plan.visible) == len(visible)
    centre_tile = (1, 1600 // 512, 3000 // 512)
    assert plan.visible[0] == centre_tile
    assert not set(plan.margin) & visible
    assert set(plan.margin) | visible == {(1, r, c) for r, c in LEVELS[1].tiles_in(slide_view.expand(view, 0.25))}
    assert plan.fallback and {key[0] for key in plan.fallback} == {4}  # three levels coarser, capped
    assert plan.wanted == plan.fallback + plan.visible + plan.margin


def test_the_plan_is_bounded_by_the_screen_not_the_slide():
    huge = pyramid(200_000, 100_000, count=10)
    for view in ((0, 0, 200_000, 100_000), (50_000, 50_000, 52_000, 51_200), (0, 0, 30_000, 18_000)):
        plan = plan_tiles(huge, view, (2000, 1200), margin=0.25)
        # At most 2 level pixels per screen pixel, and a margin of a quarter on each side.
        assert len(plan.visible) <= (2 * 2000 / 256 + 2) * (2 * 1200 / 256 + 2)
        assert len(plan.wanted) <= 2.25 * (2 * 2000 / 256 + 3) * (2 * 1200 / 256 + 3)


# -------------------------------------------------------------- composition
def test_compose_is_the_level_wanted_alone_when_it_is_held():
    view = (0, 0, 3000, 2000)
    keys = {(1, r, c) for r, c in LEVELS[1].tiles_in(view)} | {(4, 0, 0)}
    composition = compose(LEVELS, 1, view, keys.__contains__)
    assert composition.complete and composition.covered
    assert set(composition.tiles) == {(1, r, c) for r, c in LEVELS[1].tiles_in(view)}  # nothing under it


def test_compose_puts_coarser_levels_under_the_finer_ones():
    view = (0, 0, 2000, 1000)
    wanted = [(0, r, c) for r, c in LEVELS[0].tiles_in(view)]
    held = set(wanted[:5]) | {(2, 0, 0), (2, 0, 1), (3, 0, 0)}
    composition = compose(LEVELS, 0, view, held.__contains__)
    assert not composition.complete and composition.covered
    order = [key[0] for key in composition.tiles]
    assert order == sorted(order, reverse=True)  # coarsest first: painted under the rest
    assert set(composition.tiles) >= set(wanted[:5])
    assert (2, 0, 0) in composition.tiles
    # Level 2's tiles cover every hole (1024 level-0 pixels each): level 3 is not needed under them.
    assert (3, 0, 0) not in composition.tiles


def test_compose_uses_a_finer_level_held_after_zooming_out():
    view = (0, 0, 4000, 2400)
    finer = {(0, r, c) for r, c in LEVELS[0].tiles_in(view)}
    composition = compose(LEVELS, 1, view, (finer | {(4, 0, 0)}).__contains__)
    assert not composition.complete and composition.covered
    assert set(composition.tiles) == finer  # sharper than level 4, and covers it all


def test_compose_says_when_nothing_covers_a_part():
    composition = compose(LEVELS, 0, (0, 0, 600, 600), {(0, 0, 0)}.__contains__)
    assert composition.tiles == [(0, 0, 0)] and not composition.covered
    assert compose(LEVELS, 0, (20_000, 0, 30_000, 10), set().__contains__).covered  # outside the slide


def test_every_point_of_a_view_is_painted_when_any_level_holds_it():
    """Rasterise the composition: where a level holds a tile, a tile is painted there (never a blank)."""
    view = (1000, 700, 5200, 3100)
    held = {(3, r, c) for r, c in LEVELS[3].tiles_in(view)} | {(0, 3, 5), (0, 4, 6), (1, 2, 2), (2, 1, 1)}
    composition = compose(LEVELS, 0, view, held.__contains__)
    assert composition.covered
    for y in range(700, 3100, 37):
        for x in range(1000, 5200, 41):
            hits = [key for key in composition.tiles if _inside(LEVELS[key[0]].tile_rect(*key[1:]), x, y)]
            assert hits, (x, y)
            top = hits[-1][0]  # the last painted is on top: the finest held there
            finest_held = min(key[0] for key in held if _inside(LEVELS[key[0]].tile_rect(*key[1:]), x, y))
            assert top == finest_held, (x, y)


def _inside(rect, x, y) -> bool:
    return rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


# ------------------------------------------------------------ scale, place
@pytest.mark.parametrize("mm_per_pixel, length, label", [
    (0.00025, 0.02, "20 µm"),        # 0.25 µm pixels at 1:1: 160 px = 40 µm
    (0.0005, 0.05, "50 µm"),
    (0.001, 0.1, "100 µm"),
    (0.0125, 2.0, "2 mm"),
    (0.00625, 1.0, "1 mm"),
    (0.1, 10.0, "10 mm"),
    (0.000004, 0.0005, "500 nm"),
])
def test_scale_bar_is_a_round_length(mm_per_pixel, length, label):
    bar = scale_bar(mm_per_pixel, 160)
    assert bar is not None
    assert bar[0] == pytest.approx(length) and bar[1] == label
    assert bar[2] == pytest.approx(length / mm_per_pixel) and bar[2] <= 160 and bar[2] > 160 / 2.5 - 1e-9


def test_no_scale_bar_without_a_spacing():
    assert scale_bar(0) is None and scale_bar(float("nan")) is None


def test_position_in_mm_on_the_slide():
    spacing = (0.00025, 0.00025)
    # The synthetic slides' orientation: columns run along -Y, rows along -X, from the origin (20, 40) mm.
    x, y, on_slide = slide_view.slide_position(4000, 2000, spacing, (20.0, 40.0), (0, -1, 0, -1, 0, 0))
    assert on_slide and (x, y) == pytest.approx((20.0 - 0.5, 40.0 - 1.0))
    assert slide_view.slide_position(4000, 2000, spacing) == pytest.approx((1.0, 0.5, False))
    assert slide_view.position_text(4000, 2000, spacing, (20.0, 40.0), (0, -1, 0, -1, 0, 0)) == \
        "x 19.5000 mm, y 39.0000 mm on the slide"
    assert slide_view.position_text(4000, 2000, (0.0005, 0.0005)) == "x 2.0000 mm, y 1.0000 mm from the image corner"
    assert slide_view.position_text(1, 1, None) == ""
    assert slide_view.position_decimals(0.001) == 3 and slide_view.position_decimals(0.0011) == 3


def test_readout_text():
    assert slide_view.pixel_text(2, 567, 1234, (230, 200, 210)) == "level 2, row 567, col 1234: RGB (230, 200, 210)"
    assert slide_view.pixel_text(0, 1, 2, (7,)) == "level 0, row 1, col 2: 7"
    assert slide_view.pixel_text(0, 1, 2, None) == "level 0, row 1, col 2"


def test_the_slide_knows_its_origin_and_orientation(tmp_path):
    files = write_slide(tmp_path / "s", width=600, height=500, associated=False)
    with open_slide(files.folder) as slide:
        assert slide.origin_mm == (20.0, 40.0) and slide.orientation == (0, -1, 0, -1, 0, 0)


# ------------------------------------------------------------------ fetcher
def test_the_latest_list_wins_and_fetches_run_in_its_order():
    gate, started = threading.Event(), threading.Event()
    fetched, delivered = [], []

    def fetch(key):
        if key == "first":
            started.set()
            gate.wait(30)
        fetched.append(key)
        return key.upper()

    done = threading.Event()

    def deliver(key, result, error):
        delivered.append((key, result, error))
        if key == "last":
            done.set()

    fetcher = TileFetcher(fetch, deliver, workers=1)
    fetcher.want(["first", "stale-1", "stale-2"])
    assert started.wait(30)
    assert fetcher.want(["first", "held", "b", "last"], skip=lambda key: key == "held") == 2  # "first" is under way
    gate.set()
    assert done.wait(30)
    fetcher.stop()
    assert fetched == ["first", "b", "last"]
    assert [result for _, result, _ in delivered] == ["FIRST", "B", "LAST"]
    assert fetcher.pending == 0


def test_a_failed_fetch_is_delivered_as_an_error_and_stop_is_final():
    errors = []
    done = threading.Event()
    fetcher = TileFetcher(lambda key: 1 / 0, lambda key, result, error: (errors.append(error), done.set()))
    fetcher.want([1])
    assert done.wait(30)
    assert isinstance(errors[0], ZeroDivisionError)
    fetcher.stop()
    assert fetcher.want([2]) == 0


# ------------------------------------------------------------ mask summary
def test_the_mask_summary_never_says_de_identified():
    done = label_mask.SlideMaskReport("/s", [label_mask.MaskOutcome("/s/label.dcm", "LABEL", True, 1000,
                                                                    ["BurnedInAnnotation YES -> NO"], "label blacked out")])
    headline, lines = label_mask.summary(done)
    assert headline == "The label was blacked out"
    assert "label.dcm: header BurnedInAnnotation YES -> NO" in lines
    assert lines[-1] == label_mask.NOT_DEIDENTIFIED
    refused = label_mask.SlideMaskReport("/s", error="nothing was written: the masked label needs 9 bytes where "
                                                     "tile 0 has 5: it cannot be written in place")
    headline, lines = label_mask.summary(refused)
    assert headline == "Nothing was written" and "cannot be written in place" in lines[0]
    for text in (headline, *lines[:-1]):
        assert "de-identified" not in text.replace("not de-identify", "")
    kept = label_mask.SlideMaskReport("/s", [label_mask.MaskOutcome("/s/label.dcm", "LABEL", True, 10, [], "label blacked out")])
    assert any("left as they were" in line for line in label_mask.summary(kept)[1])
