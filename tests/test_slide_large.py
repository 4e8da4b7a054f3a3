"""A whole-slide image of several GB, written in bounded memory, read region by region."""

from __future__ import annotations

import resource
import shutil

import numpy as np
import pytest

from viewer.model import open_slide
from viewer.synthetic.slide import write_slide

pytestmark = pytest.mark.slow

SIDE = 160 * 256  # 160 x 160 native RGB tiles at level 0: 5.0 GB, split over two files


def _expected(pyramid, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
    size = pyramid.tile_size
    out = np.empty((height, width, 3), np.uint8)
    for row in range(y // size, (y + height - 1) // size + 1):
        for col in range(x // size, (x + width - 1) // size + 1):
            tile = pyramid.tile(level, row, col)
            top, left = row * size, col * size
            y0, y1 = max(y, top), min(y + height, top + size)
            x0, x1 = max(x, left), min(x + width, left + size)
            out[y0 - y:y1 - y, x0 - x:x1 - x] = tile[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def test_several_gb_slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big-slide")
    if shutil.disk_usage(folder).free < 10 << 30:
        pytest.skip("needs 10 GB of free disk")
    try:
        files = write_slide(folder / "slide", width=SIDE, height=SIDE, levels=4, compression="none",
                            concatenated_level=0, period=16, associated=False, missing=lambda row, col: False)
        total = sum(path.stat().st_size for path in (folder / "slide").iterdir())
        assert total > 6 << 30
        cache = 64 << 20
        with open_slide(files.folder, cache_bytes=cache, max_open_files=2) as slide:
            assert [level.size[0] for level in slide.levels] == [SIDE, SIDE // 2, SIDE // 4, SIDE // 8]
            assert len(slide.levels[0].instances) == 2
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # Straddling the concatenation's two files (tile row 80), the last tile, and every level.
            places = [(0, 10_000, 20_400), (0, SIDE - 1500, SIDE - 950), (1, 7_001, 3_333), (2, 5_000, 5_000),
                      (3, 0, 0)]
            for step in range(40):  # a pan across level 0: far more tiles than the cache holds
                places.append((0, 300 + step * 1000, 400 + step * 977))
            for level, x, y in places:
                width, height = min(1500, slide.levels[level].size[0] - x), min(950, slide.levels[level].size[1] - y)
                region = slide.read_region((x, y), level, (width, height))
                np.testing.assert_array_equal(region, _expected(files.pyramid, level, x, y, width, height))
                assert slide.cache.nbytes <= cache and slide.descriptors.open_count <= 2
            grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            assert grown_kib * 1024 < cache + (256 << 20)  # bounded by the cache, not the 6 GB slide
    finally:
        shutil.rmtree(folder, ignore_errors=True)
