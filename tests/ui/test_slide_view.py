"""The slide view offscreen: the right pixels at fit and at 1:1, the overview, no blank while tiles arrive."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from viewer.model import open_slide  # noqa: E402
from viewer.model.view import slide_view  # noqa: E402
from viewer.synthetic.slide import write_slide  # noqa: E402
from viewer.ui.slide_overview import FRAME  # noqa: E402
from viewer.ui.slide_view import SlideView  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402

WIDTH, HEIGHT = 2048, 1536  # level 2 is 512 x 384: a 512 x 384 view fits it at one pixel per screen pixel
VIEW = (512, 384)
SENTINEL = (255, 0, 255)  # the view's background in these tests: never a slide's pixel


@pytest.fixture(scope="module", params=["TILED_FULL", "TILED_SPARSE"])
def slide_folder(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide") / request.param.lower()
    write_slide(folder, width=WIDTH, height=HEIGHT, levels=4, tiling=request.param, compression="jpeg")
    return folder


@pytest.fixture
def view(qtbot, slide_folder):
    slide = open_slide(slide_folder)
    widget = SlideView()
    qtbot.addWidget(widget)
    widget.graphics.setBackground(SENTINEL)
    widget.resize(*VIEW)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_slide(slide)
    yield widget
    widget.set_slide(None)
    slide.close()


def wait_complete(qtbot, view: SlideView) -> None:
    """Wait until the view holds every tile it wants for its final size and has painted them
    (the readout tells what was painted). Posted events (a layout still to come gives the view
    box its size, and the view a new plan) go first, so a plan complete for a size about to
    change does not count (seen on a loaded machine)."""
    def settled() -> bool:
        QCoreApplication.sendPostedEvents()
        return view.on_screen

    qtbot.waitUntil(settled, timeout=EVENT_TIMEOUT_MS)


def drawn(view: SlideView) -> np.ndarray:
    """What the view shows, as ``(rows, cols, 3)`` (the overlays are not part of it)."""
    image = view.graphics.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def sentinel_pixels(image: np.ndarray) -> int:
    return int(np.all(image == SENTINEL, axis=2).sum())


def test_fit_draws_the_level_for_the_scale_pixel_for_pixel(view, qtbot):
    wait_complete(qtbot, view)
    assert (view.view_box.width(), view.view_box.height()) == VIEW
    assert view.visible_rect() == (0, 0, WIDTH, HEIGHT)
    assert view.shown_level == view.slide.best_level_for_downsample(WIDTH / VIEW[0]) == 2
    expected = view.slide.read_region((0, 0), 2, VIEW)
    np.testing.assert_array_equal(drawn(view), expected)
    # Only the tiles under the view and its margin were fetched: the level's, a coarse one's and the backdrop.
    assert view.fetcher.fetched <= len(view.plan.wanted) + 1


def test_one_to_one_draws_level_0(view, qtbot):
    wait_complete(qtbot, view)
    view.view_box.setRange(QRectF(100, 400, *VIEW), padding=0)  # TILED_SPARSE: tile (2, 0) is missing here
    wait_complete(qtbot, view)
    assert view.shown_level == 0
    np.testing.assert_array_equal(drawn(view), view.slide.read_region((100, 400), 0, VIEW))
    assert view.scale_bar.label == "20 µm"  # 0.25 µm pixels: 160 screen pixels are 40 µm
    view.actual_size()
    wait_complete(qtbot, view)
    x0, y0, x1, y1 = view.visible_rect()
    assert (x1 - x0, y1 - y0) == pytest.approx(VIEW) and view.shown_level == 0


class Gate:
    """Holds back the reads of one level's tiles until opened."""

    def __init__(self, slide, level: int) -> None:
        self.level = level
        self.open = threading.Event()
        self.open.set()
        self._read = slide.read_tile
        slide.read_tile = self.read_tile

    def read_tile(self, level, row, col):
        if level == self.level:
            assert self.open.wait(EVENT_TIMEOUT_MS / 1000)
        return self._read(level, row, col)


def test_panning_never_shows_a_blank_where_a_coarser_level_is_held(view, qtbot):
    wait_complete(qtbot, view)  # level 2 and the coarse fallback are held
    gate = Gate(view.slide, 0)
    try:
        gate.open.clear()
        for rect in (QRectF(300, 300, *VIEW), QRectF(1100, 700, *VIEW)):
            view.view_box.setRange(rect, padding=0)  # a zoom to 1:1, then a pan past the margin
            qtbot.waitUntil(lambda: view.plan is not None and view.plan.level == 0 and not view._timer.isActive()
                            and all(view.tiles.holds(key) for key in view.plan.fallback), timeout=EVENT_TIMEOUT_MS)
            image = drawn(view)
            composition = view.tiles.last_composition
            assert not composition.complete and composition.covered  # coarser tiles under the missing fine ones
            assert {key[0] for key in composition.tiles} - {0}  # a coarser level is painted
            assert sentinel_pixels(image) == 0
        gate.open.set()
        wait_complete(qtbot, view)
        assert view.tiles.last_composition is not None
        image = drawn(view)
        assert view.tiles.last_composition.complete and {key[0] for key in view.tiles.last_composition.tiles} == {0}
        np.testing.assert_array_equal(image, view.slide.read_region((1100, 700), 0, VIEW))
    finally:
        gate.open.set()


def test_pan_and_zoom_from_held_tiles_fetch_nothing(view, qtbot):
    view.view_box.setRange(QRectF(600, 600, *VIEW), padding=0)
    wait_complete(qtbot, view)
    fetched = view.fetcher.fetched
    view.view_box.translateBy(x=40, y=30)  # inside the margin
    qtbot.waitUntil(lambda: not view._timer.isActive(), timeout=EVENT_TIMEOUT_MS)
    assert view.complete and view.fetcher.fetched == fetched
    np.testing.assert_array_equal(drawn(view), view.slide.read_region((640, 630), 0, VIEW))


def test_clicking_the_overview_moves_the_view(view, qtbot):
    wait_complete(qtbot, view)
    view.view_box.setRange(QRectF(0, 0, *VIEW), padding=0)
    wait_complete(qtbot, view)
    overview = view.overview
    assert overview.isVisible() and overview.image is not None
    area = overview.image_rect()
    target = QPoint(round(area.x() + area.width() * 0.75), round(area.y() + area.height() * 0.6))
    QTest.mouseClick(overview, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)
    x0, y0, x1, y1 = view.visible_rect()
    expected_x = (target.x() - FRAME) / (overview.width() - 2 * FRAME) * WIDTH
    expected_y = (target.y() - FRAME) / (overview.height() - 2 * FRAME) * HEIGHT
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((expected_x, expected_y), abs=1)
    assert (x1 - x0, y1 - y0) == pytest.approx(VIEW)  # the zoom is kept
    wait_complete(qtbot, view)
    assert overview.visible == pytest.approx((x0, y0, x1, y1))
    assert sentinel_pixels(drawn(view)) == 0


def test_the_readout_says_where_on_the_slide_and_the_value_at_the_level_drawn(view, qtbot):
    wait_complete(qtbot, view)
    texts = []
    view.pixel_text.connect(texts.append)
    x, y = 1234, 567  # level-0 pixels; at fit level 2 is drawn
    view.graphics.scene().sigMouseMoved.emit(view.tiles.mapToScene(QPointF(x + 0.5, y + 0.5)))
    row, col = y // 4, x // 4
    value = view.slide.read_region((col, row), 2, (1, 1))[0, 0]
    mm_x, mm_y, on_slide = slide_view.slide_position(x + 0.5, y + 0.5, view.slide.levels[0].pixel_spacing,
                                                     view.slide.origin_mm, view.slide.orientation)
    assert on_slide
    assert texts[-1] == (f"x {mm_x:.4f} mm, y {mm_y:.4f} mm on the slide · level 2, row {row}, col {col}: "
                         f"RGB ({value[0]}, {value[1]}, {value[2]})")
