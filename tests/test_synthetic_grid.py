"""The grid pattern, band streaming of large frames, and expected regions without the frame."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from viewer.synthetic import expected_frame, expected_region, frame_index_of, write_cine
from viewer.synthetic.cine import CHUNK_BYTES
from viewer.synthetic.grid import GridPainter, grid_region
from viewer.synthetic.pattern import PixelFormat

from pyramid_reference import reference_level


@pytest.mark.parametrize("shape, samples, bits, signed", [
    ((97, 131), 1, 16, False), ((64, 64), 3, 8, False), ((50, 203), 1, 8, True), ((129, 77), 3, 16, False),
])
@pytest.mark.parametrize("index", [0, 5, 17])
def test_grid_region_matches_the_drawn_frame(shape, samples, bits, signed, index):
    painter = GridPainter(*shape, PixelFormat(bits, samples, signed), period=23, line_width=3, minor_period=5)
    frame = painter.frame(index)
    frame = frame if samples == 3 else frame[..., 0]
    assert frame_index_of(frame) == index
    cases = [(slice(None), slice(None), 1), (slice(3, 40), slice(0, 9), 1), (slice(None), slice(None), 4),
             (slice(1, None), slice(5, 61), 3), (slice(0, 1), slice(0, 8), 1)]
    for rows, cols, step in cases:
        np.testing.assert_array_equal(grid_region(painter, index, rows, cols, step), frame[rows, cols][::step, ::step])
    for level in (1, 2, 3, 5):
        reference = reference_level(frame, level)
        np.testing.assert_array_equal(grid_region(painter, index, level=level), reference)
        np.testing.assert_array_equal(grid_region(painter, index, slice(1, None), slice(0, 3), 2, level),
                                      reference[1:, :3][::2, ::2])


def test_grid_lines_are_thin_and_bright():
    painter = GridPainter(3000, 2500, PixelFormat(16, 1, False))
    frame = grid_region(painter, 0)
    line_rows = np.flatnonzero((frame[:, 8:] == painter.line_value).all(axis=1))  # row 0 has the stamp
    dy, _ = painter.offset(0)
    assert len(line_rows) == 3 * 8  # three lines of 8 rows
    assert all((row + dy) % 1000 < 8 for row in line_rows)
    level = grid_region(painter, 0, level=5)  # 32 px blocks: each line brightens a row of blocks
    assert level.max() > frame[1:, 100:].min() + 0.2 * (painter.line_value - frame[1:, 100:].min())


@pytest.mark.parametrize("kwargs", [
    dict(rows=1301, columns=2501, bits_allocated=16),  # several bands per frame, odd sizes
    dict(rows=1100, columns=2600, bits_allocated=8, samples_per_pixel=3),
    dict(rows=1100, columns=2600, bits_allocated=8, samples_per_pixel=3, planar_configuration=1),
    dict(rows=1100, columns=2600, bits_allocated=16, big_endian=True),
])
def test_large_frames_are_written_in_bands(tmp_path, kwargs, monkeypatch):
    monkeypatch.setattr("viewer.synthetic.cine.CHUNK_BYTES", 1 << 20)  # many bands on small files
    frames = 2
    path = write_cine(tmp_path / "grid.dcm", frames=frames, pattern="grid", **kwargs)
    shape = dict(frame_rows=kwargs["rows"], frame_columns=kwargs["columns"],
                 bits_allocated=kwargs["bits_allocated"], samples_per_pixel=kwargs.get("samples_per_pixel", 1))
    for index in range(frames):
        stored = pixel_array(path, index=index)
        np.testing.assert_array_equal(stored, expected_region(index, **shape))
        assert frame_index_of(stored) == index


@pytest.mark.parametrize("kwargs", [
    dict(rows=1301, columns=1201, bits_allocated=16),
    dict(rows=900, columns=1250, bits_allocated=8, samples_per_pixel=3, planar_configuration=1),
    dict(rows=700, columns=1600, bits_allocated=8, kind="us", burned_in_annotation="YES"),
])
def test_rings_written_in_bands_equal_the_whole_frame(tmp_path, kwargs, monkeypatch):
    monkeypatch.setattr("viewer.synthetic.cine.CHUNK_BYTES", 1 << 20)
    monkeypatch.setattr("viewer.synthetic.pattern.PRECOMPUTE_BYTES", 0)  # rows computed per band
    path = write_cine(tmp_path / "rings.dcm", frames=2, **kwargs)
    monkeypatch.undo()
    for index in range(2):
        np.testing.assert_array_equal(pixel_array(path, index=index), expected_frame(index, **{
            key: value for key, value in kwargs.items() if key != "planar_configuration"}))


def test_grid_refuses_what_it_does_not_draw(tmp_path):
    with pytest.raises(ValueError):
        write_cine(tmp_path / "x.dcm", frames=1, rows=16, columns=16, pattern="grid", kind="us", bits_allocated=8)
    with pytest.raises(ValueError):
        write_cine(tmp_path / "x.dcm", frames=1, rows=16, columns=16, pattern="stripes")
    assert not (tmp_path / "x.dcm").exists()


@pytest.mark.slow
def test_a_30k_frame_is_written_in_bounded_memory(tmp_path):
    """30,000 x 30,000 16-bit (1.8 GB): peak RSS grows by a few chunks, not by the frame."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc/self/status (Linux) to read the peak RSS")
    script = textwrap.dedent("""
        import sys
        from viewer.synthetic import write_cine

        def peak_kb():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

        write_cine(sys.argv[1] + ".warmup", frames=1, rows=2000, columns=3000, pattern="grid")
        before = peak_kb()
        write_cine(sys.argv[1], frames=1, rows=30000, columns=30000, pattern=sys.argv[2])
        print(peak_kb() - before)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = tmp_path / "huge.dcm"
    for pattern in ("grid",):
        result = subprocess.run([sys.executable, "-c", script, str(target), pattern], capture_output=True,
                                text=True, check=True, env=os.environ | {"PYTHONPATH": root})
        growth_kb = int(result.stdout.strip())
        assert target.stat().st_size > 30000 * 30000 * 2
        assert growth_kb < 20 * CHUNK_BYTES / 1024, f"peak RSS grew by {growth_kb / 1024:.0f} MB"
        target.unlink()
