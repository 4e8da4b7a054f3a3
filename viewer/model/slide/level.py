"""A pyramid level: one image made of the tiles of one or more instances (a concatenation).

The level keeps a dense grid ``(tile rows, tile columns)`` of (part, frame),
built on first use: for TILED_FULL from the frame order (row by row, then
focal planes and optical paths, of which the first is used), for TILED_SPARSE
from each tile's Plane Position (Slide). A grid cell without a tile is -1:
it reads as background.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from viewer.model.errors import DicomError
from viewer.model.slide.instance import TiledInstance


@dataclass
class SlideLevel:
    """One level of a slide's pyramid (``slide.levels[i]``).

    Attributes
    ----------
    index : int
        Position in ``slide.levels`` (0 is the finest).
    size : (int, int)
        (width, height) in pixels.
    tile_size : (int, int)
        (width, height) of a tile.
    pixel_spacing : (float, float) or None
        (row, column) spacing in mm, from the Shared Functional Groups' Pixel
        Measures (None if the file has none).
    downsample : float
        Level 0's width divided by this level's.
    instances : list of TiledInstance
        The files holding its tiles (several for a concatenation), in frame order.
    """

    index: int
    size: tuple[int, int]
    tile_size: tuple[int, int]
    pixel_spacing: tuple[float, float] | None
    downsample: float
    instances: list[TiledInstance]
    _grid: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(tile rows, tile columns)."""
        width, height = self.size
        tile_width, tile_height = self.tile_size
        return -(-height // tile_height), -(-width // tile_width)

    @property
    def tiling(self) -> str:
        return self.instances[0].header.tiling

    @property
    def transfer_syntax(self) -> str:
        """The name of the tiles' transfer syntax."""
        return self.instances[0].header.transfer_syntax_name

    @property
    def stored_tiles(self) -> int:
        """Frames stored in the level's files."""
        return sum(instance.header.frames for instance in self.instances)

    @property
    def samples(self) -> int:
        return self.instances[0].header.samples

    @property
    def dtype(self) -> np.dtype:
        header = self.instances[0].header
        return np.dtype(("i" if header.pixel_representation else "u") + str(header.bits_allocated // 8))

    @property
    def background(self) -> int:
        """What a missing tile shows: black for MONOCHROME2 (fluorescence), else white, as wsidicom."""
        return 0 if self.instances[0].header.photometric == "MONOCHROME2" else int(np.iinfo(self.dtype).max)

    @property
    def paths(self) -> list[str]:
        return [instance.header.path for instance in self.instances]

    @property
    def file_bytes(self) -> int:
        return sum(instance.header.file_size for instance in self.instances)

    def locate(self, row: int, col: int) -> tuple[TiledInstance, int] | None:
        """(instance, frame) of tile (`row`, `col`), or None if the level has no such tile."""
        parts, frames = self._tile_grid()
        part = int(parts[row, col])
        if part < 0:
            return None
        return self.instances[part], int(frames[row, col])

    def _tile_grid(self) -> tuple[np.ndarray, np.ndarray]:
        grid = self._grid
        if grid is None:
            with self._lock:
                if self._grid is None:
                    self._grid = self._build_grid()
                grid = self._grid
        return grid

    def _build_grid(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.grid_shape
        parts = np.full(rows * cols, -1, np.int16)
        frames = np.full(rows * cols, -1, np.int64)
        # Later parts first, so that where two tiles claim one place the first one stays.
        for part in reversed(range(len(self.instances))):
            instance = self.instances[part]
            header = instance.header
            if header.tiling == "TILED_SPARSE":
                places, local = self._sparse_places(instance)
            else:
                first = header.frame_offset
                local = np.arange(max(0, min(header.frames, rows * cols - first)), dtype=np.int64)
                places = first + local
            order = slice(None, None, -1)  # the first frame of a place wins
            parts[places[order]] = part
            frames[places[order]] = local[order]
        return parts.reshape(rows, cols), frames.reshape(rows, cols)

    def _sparse_places(self, instance: TiledInstance) -> tuple[np.ndarray, np.ndarray]:
        instance.index()
        positions = instance.positions
        assert positions is not None
        rows, cols = self.grid_shape
        tile_width, tile_height = self.tile_size
        column0, row0 = positions[:, 0] - 1, positions[:, 1] - 1
        aligned = (column0 % tile_width == 0) & (row0 % tile_height == 0)
        tile_col, tile_row = column0 // tile_width, row0 // tile_height
        inside = aligned & (tile_col >= 0) & (tile_col < cols) & (tile_row >= 0) & (tile_row < rows)
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            raise DicomError(
                instance.header.path,
                f"tile {bad} is at column {positions[bad, 0]}, row {positions[bad, 1]}: "
                "not on the tile grid of the total pixel matrix",
            )
        return tile_row * cols + tile_col, np.arange(len(positions), dtype=np.int64)
