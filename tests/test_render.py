"""Display transforms of viewer.model.display.render: pure numpy, no Qt."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut

from viewer.model.display import render


def test_drag_right_widens_and_up_raises_centre():
    center, width = render.drag_window(100.0, 256.0, dx=10, dy=-20)
    assert width == 266.0 and center == 120.0
    assert render.drag_window(0.0, 2.0, dx=-1000, dy=0)[1] == 1.0  # never below the minimum


def test_full_range_window_for_signed_and_rescaled_data():
    signed = render.full_range_window(12, True)
    assert (signed.center - signed.width / 2, signed.center + signed.width / 2) == (-2048, 2048)
    assert render.full_range_window(8, False).width == 256
    ct = render.full_range_window(12, False, 1.0, -1024.0)
    assert ct.center - ct.width / 2 == -1024


def test_auto_window_from_percentiles_of_sampled_frames():
    rng = np.random.default_rng(0)
    frames = [rng.integers(1000, 2000, size=(128, 128), dtype=np.uint16) for _ in range(3)]
    preset = render.auto_window(frames, 2.0, -100.0)
    assert preset.name == render.AUTO_WINDOW_NAME
    low, high = preset.center - preset.width / 2, preset.center + preset.width / 2
    assert 1900 - 50 < low < 1900 + 50 and 3900 - 50 < high < 3900 + 50
    assert render.auto_window([]) is None


def test_auto_window_of_a_flat_frame_has_a_width():
    preset = render.auto_window([np.full((8, 8), 7, dtype=np.int16)])
    assert preset.width > 0 and preset.center > 7


def test_sample_indices_spread_over_the_file():
    assert render.sample_indices(5, 16) == [0, 1, 2, 3, 4]
    picks = render.sample_indices(1000, 16)
    assert len(picks) == 16 and picks[0] == 0 and picks[-1] == 999
    assert render.sample_indices(0, 16) == []


def test_invert_lut_is_256_uint8_entries():
    lut = render.invert_lut(True)
    assert lut.dtype == np.uint8 and lut.shape == (256,) and lut[0] == 255 and lut[-1] == 0
    assert render.invert_lut(False) is None


@pytest.mark.parametrize(
    "photometric, samples, kind",
    [("MONOCHROME1", 1, render.GREY), ("MONOCHROME2", 1, render.GREY), ("PALETTE COLOR", 1, render.PALETTE),
     ("RGB", 3, render.COLOUR), ("YBR_FULL_422", 3, render.COLOUR)],
)
def test_display_kind(photometric, samples, kind):
    assert render.display_kind(photometric, samples) == kind


def test_contiguous_native_fixes_byte_order_and_strides():
    big = np.arange(12, dtype=">u2").reshape(3, 4)[:, ::2]
    result = render.contiguous_native(big)
    assert result.flags.c_contiguous and result.dtype.isnative
    np.testing.assert_array_equal(result, big)
    native = np.zeros((4, 4), np.uint16)
    assert render.contiguous_native(native) is native


def test_palette_table_matches_pydicom(tmp_path):
    from reference_files import reference_files

    path = next(p for p in reference_files() if p.name == "OBXXXX1A.dcm")
    dataset = pydicom.dcmread(path)
    frame = dataset.pixel_array
    table = render.PaletteTable(dataset, dataset.BitsStored)
    np.testing.assert_array_equal(table.apply(frame), apply_color_lut(frame, dataset))


def test_pixel_readout_text():
    frame = np.array([[0, 1024], [5, 6]], dtype=np.uint16)
    readout = render.pixel_readout(frame, 0, 1, 7, 1.0, -1024.0, "HU")
    assert readout.text() == "row 0, col 1, frame 7: stored 1024 = 0 HU"
    assert render.pixel_readout(frame, 2, 0, 0, 1, 0, "") is None
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert "RGB (0, 0, 0)" in render.pixel_readout(rgb, 1, 1, 0, 1, 0, "").text()
