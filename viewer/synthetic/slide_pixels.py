"""Pixels of the synthetic whole-slide images: a tile pyramid made by area averaging.

Every tile of every level is computed on demand, so a writer can stream a
slide of any size in the memory of a few tiles:

* level 0 is a smooth colour pattern (tissue-like blobs inside an ellipse,
  thin dark lines every 97 and 89 pixels, so a tile placed at the wrong
  position shows) over a white background;
* level ``l`` pixel ``(y, x)`` is the rounded mean of the level ``l - 1``
  pixels ``(2y + i, 2x + j)`` that lie inside that level (area averaging),
  computed from the four child tiles;
* tiles carry white padding past the right and bottom edges, as scanners
  write them.

With ``period`` (a power of two, in level-0 tiles) the pattern repeats and
tiles are memoised by their place in the period: a 200,000-tile slide then
costs a few hundred distinct tiles to compute and encode (the benchmarks).
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

BACKGROUND = 255
"""Value of every sample outside the tissue and of missing tiles (white)."""

_LINE_PERIODS = (97, 89)


def level_sizes(width: int, height: int, levels: int) -> list[tuple[int, int]]:
    """(width, height) of each level, halving (rounded up) from level 0."""
    sizes = [(int(width), int(height))]
    for _ in range(1, levels):
        w, h = sizes[-1]
        sizes.append(((w + 1) // 2, (h + 1) // 2))
    return sizes


class TilePyramid:
    """Tiles of a synthetic slide pyramid, computed on demand.

    Parameters
    ----------
    width, height : int
        Level-0 size in pixels.
    tile_size : int
        Tile width and height.
    levels : int
        Number of levels (each half the size of the one before).
    missing : callable, optional
        ``missing(row, col)`` is True for level-0 tiles that hold no tissue
        (white, and left out of TILED_SPARSE files). A coarser tile is missing
        when all its children are.
    period : int, optional
        Repeat the level-0 pattern every `period` tiles (a power of two) and
        memoise tiles by their place in the period.
    """

    def __init__(
        self,
        width: int,
        height: int,
        tile_size: int,
        levels: int,
        missing: Callable[[int, int], bool] | None = None,
        period: int | None = None,
    ) -> None:
        if period is not None and (period < 1 or period & (period - 1)):
            raise ValueError("period must be a power of two")
        self.sizes = level_sizes(width, height, levels)
        self.tile_size = int(tile_size)
        self.levels = int(levels)
        self.period = period
        self._missing0 = missing or (lambda row, col: False)
        self._memo: dict[tuple[int, int, int], np.ndarray] = {}
        self.missing = functools.lru_cache(maxsize=1 << 16)(self._missing)

    def grid(self, level: int) -> tuple[int, int]:
        """(tile rows, tile columns) of a level."""
        width, height = self.sizes[level]
        return -(-height // self.tile_size), -(-width // self.tile_size)

    def _missing(self, level: int, row: int, col: int) -> bool:
        rows, cols = self.grid(level)
        if not (0 <= row < rows and 0 <= col < cols):
            return True
        if level == 0:
            return bool(self._missing0(row, col))
        return all(self.missing(level - 1, 2 * row + i, 2 * col + j) for i in (0, 1) for j in (0, 1))

    def tile(self, level: int, row: int, col: int) -> np.ndarray:
        """Tile ``(row, col)`` of `level`: uint8 ``(tile_size, tile_size, 3)``, read-only."""
        key = self.memo_key(level, row, col)
        if key is not None:
            cached = self._memo.get(key)
            if cached is not None:
                return cached
        if self.missing(level, row, col):
            tile = np.full((self.tile_size, self.tile_size, 3), BACKGROUND, np.uint8)
        elif level == 0:
            tile = self._level0_tile(row, col)
        else:
            tile = self._averaged_tile(level, row, col)
        tile.flags.writeable = False
        if key is not None:
            self._memo[key] = tile
        return tile

    def memo_key(self, level: int, row: int, col: int) -> tuple[int, int, int] | None:
        """Where the tile sits in the repeating pattern; edge tiles (padding) are their own."""
        if self.period is None:
            return None
        rows, cols = self.grid(level)
        span = max(1, self.period >> level)
        # Tiles of the last row or column hold padding: never shared.
        key_row = row if row == rows - 1 else row % span
        key_col = col if col == cols - 1 else col % span
        return level, key_row, key_col

    def _level0_tile(self, row: int, col: int) -> np.ndarray:
        size = self.tile_size
        y = np.arange(row * size, (row + 1) * size, dtype=np.int64)[:, None]
        x = np.arange(col * size, (col + 1) * size, dtype=np.int64)[None, :]
        width, height = self.sizes[0]
        inside = (y < height) & (x < width)
        if self.period is not None:
            repeat = self.period * size
            y, x = y % repeat, x % repeat
        tile = level0_pixels(y, x, width, height, tissue_mask=self.period is None)
        tile[~inside] = BACKGROUND
        return tile

    def _averaged_tile(self, level: int, row: int, col: int) -> np.ndarray:
        size = self.tile_size
        children = np.empty((2 * size, 2 * size, 3), np.uint16)
        for i in (0, 1):
            for j in (0, 1):
                children[i * size:(i + 1) * size, j * size:(j + 1) * size] = self.tile(level - 1, 2 * row + i, 2 * col + j)
        width, height = self.sizes[level - 1]
        y = np.arange(2 * row * size, 2 * (row + 1) * size)[:, None]
        x = np.arange(2 * col * size, 2 * (col + 1) * size)[None, :]
        valid = ((y < height) & (x < width)).astype(np.uint16)
        sums = (children * valid[..., None]).reshape(size, 2, size, 2, 3).sum(axis=(1, 3), dtype=np.uint32)
        counts = valid.reshape(size, 2, size, 2).sum(axis=(1, 3), dtype=np.uint32)[..., None]
        tile = np.full((size, size, 3), BACKGROUND, np.uint8)
        has = np.broadcast_to(counts > 0, tile.shape)
        averaged = (sums + counts // 2) // np.maximum(counts, 1)
        tile[has] = averaged[has].astype(np.uint8)
        return tile

    def level_image(self, level: int) -> np.ndarray:
        """A whole level as one array (small levels only: tests and thumbnails)."""
        width, height = self.sizes[level]
        rows, cols = self.grid(level)
        size = self.tile_size
        image = np.empty((rows * size, cols * size, 3), np.uint8)
        for row in range(rows):
            for col in range(cols):
                image[row * size:(row + 1) * size, col * size:(col + 1) * size] = self.tile(level, row, col)
        return image[:height, :width]


def level0_pixels(y: np.ndarray, x: np.ndarray, width: int, height: int, *, tissue_mask: bool = True) -> np.ndarray:
    """Level-0 RGB values at pixel rows `y` (column vector) and columns `x` (row vector)."""
    yf = y.astype(np.float32)
    xf = x.astype(np.float32)
    red = 170 + 60 * np.sin(xf / 211.0) * np.cos(yf / 157.0)
    green = 110 + 70 * np.sin((xf + yf) / 331.0)
    blue = 190 + 50 * np.cos((xf - 2 * yf) / 263.0)
    rgb = np.stack(np.broadcast_arrays(red, green, blue), axis=-1)
    lines = (x % _LINE_PERIODS[0] == 0) | (y % _LINE_PERIODS[1] == 0)
    rgb[np.broadcast_to(lines, rgb.shape[:2])] = (40, 20, 70)
    pixels = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    if tissue_mask:
        cy, cx = height / 2.0, width / 2.0
        outside = ((yf - cy) / (0.46 * height)) ** 2 + ((xf - cx) / (0.46 * width)) ** 2 > 1.0
        pixels[np.broadcast_to(outside, pixels.shape[:2])] = BACKGROUND
    return pixels


def label_image(patient_name: str, width: int = 480, height: int = 320) -> np.ndarray:
    """A slide label photograph: white card, a fake barcode, the patient's name in large print."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    for index in range(40):  # a barcode-like strip: bars of two widths
        left = 20 + index * 9
        draw.rectangle([left, 20, left + (2 if index % 3 else 5), 100], fill=(10, 10, 10))
    font = ImageFont.load_default(size=max(12, height // 8))
    draw.text((20, 130), patient_name.replace("^", " "), fill=(0, 0, 0), font=font)
    draw.text((20, 130 + height // 6), "S-2024-0042  H&E", fill=(20, 20, 120), font=font)
    return np.asarray(image, dtype=np.uint8).copy()


def overview_image(label: np.ndarray, tissue: np.ndarray, height: int = 320) -> np.ndarray:
    """A macro photograph of the glass slide: the label at the left, the tissue at the right."""
    from PIL import Image

    label_part = np.asarray(Image.fromarray(label).resize((label.shape[1] * height // label.shape[0], height)))
    tissue_width = max(1, tissue.shape[1] * height // max(1, tissue.shape[0]))
    tissue_part = np.asarray(Image.fromarray(tissue).resize((tissue_width, height), Image.Resampling.BOX))
    glass = np.full((height, 40, 3), 225, np.uint8)
    return np.ascontiguousarray(np.concatenate([label_part, glass, tissue_part, glass], axis=1))
