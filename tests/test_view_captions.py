"""The viewer's words about what is shown: frames from 1, values only where they differ, plain memory."""

import pytest

from viewer.model.view.captions import (
    MemoryFigures,
    frames_phrase,
    pixel_text,
    status_summary,
)


@pytest.mark.parametrize(
    "frames, count, expected",
    [([4], 40, "frame 5"), (range(9, 20), 40, "frames 10-20"), (range(40), 40, "all 40 frames"),
     ([0, 2, 7], 40, "3 frames"), ([], 40, "no frames"), (range(0, 40), 4000, "frames 1-40")],
)
def test_frames_are_counted_from_one(frames, count, expected):
    assert frames_phrase(frames, count) == expected


def test_pixel_readout_says_the_value_once_when_rescale_changes_nothing():
    assert pixel_text(12, 40, 89, (16382.0,), 16382.0, "") == "row 12, col 40, frame 90: 16382"


def test_pixel_readout_gives_the_rescaled_value_with_its_unit_where_it_differs():
    assert pixel_text(1, 2, 0, (1024.0,), -0.0 + 24.0, "HU") == "row 1, col 2, frame 1: 24 HU (stored 1024)"
    assert pixel_text(1, 2, 0, (3.0,), 1.5, "") == "row 1, col 2, frame 1: 1.5 (stored 3)"


def test_pixel_readout_of_colour():
    assert pixel_text(0, 0, 4, (10.0, 20.0, 30.0), None, "") == "row 0, col 0, frame 5: RGB (10, 20, 30)"


def test_status_summary_counts_file_pages_as_cache_not_memory():
    memory = MemoryFigures.from_resident(resident=2_200_000_000, anonymous=115_000_000)
    assert memory.used == 115_000_000 and memory.file_cache == 2_085_000_000
    assert status_summary(False, 2_100_000_000, memory) == "Read-only · 2.1 GB file, 115.0 MB memory"
    assert status_summary(True, 2_100_000_000, MemoryFigures(None, None)) == "Read/write · 2.1 GB file"
    assert status_summary(None, None, MemoryFigures(None, None)) == ""
