"""Open a whole-slide image (a DICOM WSI series in one folder) and read regions of its levels.

::

    from viewer.model import open_slide

    with open_slide("slide_folder/") as slide:           # or any file of the series
        for level in slide.levels:                         # finest first
            print(level.size, level.tile_size, level.pixel_spacing, level.downsample)
        region = slide.read_region(location=(x, y), level=0, size=(1500, 950))   # (950, 1500, 3)
        label = slide.label                                # a Document (or None)

Design
------
* Opening scans headers only (:mod:`viewer.model.slide.scan`); a level's
  file is indexed on its first tile (:mod:`viewer.model.slide.instance`).
* Tiles are read with positional reads through a :class:`DescriptorPool`
  (at most ``max_open_files`` descriptors for the whole slide), decoded on
  a thread pool (Pillow releases the GIL while decoding JPEG), and kept in a
  :class:`~viewer.model.storage.cache.FrameCache` bounded in bytes.
* Missing tiles (TILED_SPARSE) and pixels outside the level read as the
  background (white, black for MONOCHROME2), as in wsidicom.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from typing import Any

import numpy as np

from viewer.model.errors import NotDicomError
from viewer.model.slide.decode import TileDecoder
from viewer.model.slide.instance import DescriptorPool, TiledInstance
from viewer.model.slide.level import SlideLevel
from viewer.model.slide.scan import InstanceHeader, scan_file, series_in_folder
from viewer.model.storage.cache import FrameCache

DEFAULT_TILE_CACHE_BYTES = 256 << 20
DEFAULT_MAX_OPEN_FILES = 8


def open_slide(
    path: str | os.PathLike[str],
    *,
    cache_bytes: int = DEFAULT_TILE_CACHE_BYTES,
    max_open_files: int = DEFAULT_MAX_OPEN_FILES,
    workers: int | None = None,
) -> "Slide":
    """Open the whole-slide image that `path` (a folder, or any file of the series) belongs to.

    Parameters
    ----------
    path : str or os.PathLike
        A folder (its first VL Whole Slide Microscopy series is opened) or a
        file of the series (the other instances of its Series Instance UID in
        the same folder are found by a header-only scan).
    cache_bytes : int
        Budget of the decoded-tile cache.
    max_open_files : int
        Most file descriptors held open at once.
    workers : int, optional
        Threads decoding tiles (default: the number of CPUs, at most 8).

    Raises
    ------
    DicomError
        If no whole-slide image is found there, or its headers are unusable.
    """
    started = time.perf_counter()
    path = os.fspath(path)
    if os.path.isdir(path):
        folder, first, series = path, None, None
    else:
        first = scan_file(path)
        if first is None:
            raise NotDicomError(path, "not a VL Whole Slide Microscopy image")
        folder, series = os.path.dirname(os.path.abspath(path)), first.series_uid
    instances = series_in_folder(folder, series, first)
    if not any(instance.flavour == "VOLUME" for instance in instances):
        raise NotDicomError(path, "no VL Whole Slide Microscopy pyramid level found")
    slide = Slide(folder, instances, cache_bytes=cache_bytes, max_open_files=max_open_files, workers=workers)
    slide.open_seconds = time.perf_counter() - started
    return slide


class Slide:
    """A whole-slide image: pyramid levels plus label, overview and thumbnail. See :func:`open_slide`."""

    def __init__(self, folder: str, instances: list[InstanceHeader], *, cache_bytes: int = DEFAULT_TILE_CACHE_BYTES,
                 max_open_files: int = DEFAULT_MAX_OPEN_FILES, workers: int | None = None) -> None:
        self.folder = folder
        self.open_seconds = 0.0
        self.warnings: list[str] = []
        self.series_uid = instances[0].series_uid
        self.descriptors = DescriptorPool(max_open_files)
        self.cache = FrameCache(cache_bytes)
        self._workers = workers or min(8, os.cpu_count() or 1)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._decoders: dict[str, TileDecoder] = {}
        self.levels = self._group_levels([i for i in instances if i.flavour == "VOLUME"])
        self.associated: dict[str, InstanceHeader] = {}
        for instance in instances:
            if instance.flavour != "VOLUME":
                self.associated.setdefault(instance.flavour, instance)
        self._documents: dict[str, Any] = {}
        self.closed = False

    # ---------------------------------------------------------------- levels
    def _group_levels(self, volumes: list[InstanceHeader]) -> list[SlideLevel]:
        by_size: dict[tuple[int, int], list[InstanceHeader]] = {}
        for instance in volumes:
            by_size.setdefault((instance.width, instance.height), []).append(instance)
        finest = max(by_size, key=lambda size: size[0] * size[1])
        levels = []
        for index, size in enumerate(sorted(by_size, key=lambda size: -size[0] * size[1])):
            parts = self._one_source(by_size[size])
            first = parts[0]
            levels.append(SlideLevel(
                index=index,
                size=size,
                tile_size=(first.tile_width, first.tile_height),
                pixel_spacing=first.pixel_spacing,
                downsample=finest[0] / size[0],
                instances=[TiledInstance(part, self.descriptors) for part in parts],
            ))
        return levels

    def _one_source(self, candidates: list[InstanceHeader]) -> list[InstanceHeader]:
        """The parts of one image of this size: a concatenation's files in order, or one file."""
        sources: dict[str, list[InstanceHeader]] = {}
        for instance in candidates:
            sources.setdefault(instance.concatenation_uid or instance.sop_instance_uid, []).append(instance)
        if len(sources) > 1:
            self.warnings.append(
                f"{len(sources)} images of {candidates[0].width} x {candidates[0].height} pixels (focal planes or "
                "optical paths in separate files?): the first is shown"
            )
        parts = next(iter(sources.values()))
        return sorted(parts, key=lambda part: part.frame_offset)

    @property
    def origin_mm(self) -> tuple[float, float] | None:
        """(X, Y) in mm on the slide of level 0's top-left pixel (Total Pixel Matrix Origin), or None."""
        return self.levels[0].instances[0].header.origin_mm

    @property
    def orientation(self) -> tuple[float, ...] | None:
        """Image Orientation (Slide) of level 0: the row's then the column's direction cosines, or None."""
        return self.levels[0].instances[0].header.orientation

    def best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level whose downsample is at most `downsample` (OpenSlide's rule)."""
        best = 0
        for level in self.levels:
            if level.downsample <= downsample * (1 + 1e-9):
                best = level.index
        return best

    # ------------------------------------------------------- associated images
    @property
    def label(self):
        """The LABEL image as a :class:`~viewer.model.Document`, or None."""
        return self._associated_document("LABEL")

    @property
    def overview(self):
        """The OVERVIEW image as a :class:`~viewer.model.Document`, or None."""
        return self._associated_document("OVERVIEW")

    @property
    def thumbnail(self):
        """The THUMBNAIL image as a :class:`~viewer.model.Document`, or None."""
        return self._associated_document("THUMBNAIL")

    def _associated_document(self, flavour: str):
        if flavour not in self._documents:
            instance = self.associated.get(flavour)
            if instance is None:
                return None
            from viewer.model.opening import open_document

            self._documents[flavour] = open_document(instance.path)
        return self._documents[flavour]

    # ----------------------------------------------------------------- tiles
    def read_tile(self, level: int, row: int, col: int) -> np.ndarray | None:
        """Tile (`row`, `col`) of `level` as ``(rows, cols, samples)``, or None where the level has none."""
        key = (level, row, col)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        located = self.levels[level].locate(row, col)
        if located is None:
            return None
        tile = self._load(*located)
        self.cache.put(key, tile)
        return tile

    def _load(self, instance: TiledInstance, frame: int) -> np.ndarray:
        if not instance.encapsulated:
            return instance.read_native(frame)
        return self._decoder(instance).decode(instance.read_encoded(frame))

    def _decoder(self, instance: TiledInstance) -> TileDecoder:
        decoder = self._decoders.get(instance.header.path)
        if decoder is None:
            decoder = self._decoders[instance.header.path] = TileDecoder(instance.header)
        return decoder

    def read_region(self, location: tuple[int, int] = (0, 0), level: int = 0,
                    size: tuple[int, int] = (256, 256)) -> np.ndarray:
        """Pixels of a rectangle of `level`, in that level's pixel coordinates.

        Parameters
        ----------
        location : (int, int)
            (x, y) of the top-left pixel in the level.
        level : int
            Index into :attr:`levels`.
        size : (int, int)
            (width, height) of the rectangle.

        Returns
        -------
        numpy.ndarray
            ``(height, width, samples)``; pixels without a tile, or outside
            the level, hold the level's background.
        """
        if self.closed:
            raise ValueError("the slide is closed")
        chosen = self.levels[level]
        (x, y), (width, height) = (int(location[0]), int(location[1])), (int(size[0]), int(size[1]))
        if width < 0 or height < 0:
            raise ValueError(f"a region cannot have a negative size ({width} x {height})")
        out = np.full((height, width, chosen.samples), chosen.background, chosen.dtype)
        places = self._tiles_in(chosen, x, y, width, height)
        tiles = self._fetch(level, places)
        tile_width, tile_height = chosen.tile_size
        for (row, col), tile in zip(places, tiles):
            if tile is None:
                continue
            top, left = row * tile_height, col * tile_width
            y0, y1 = max(y, top), min(y + height, top + tile_height, chosen.size[1])
            x0, x1 = max(x, left), min(x + width, left + tile_width, chosen.size[0])
            if y0 < y1 and x0 < x1:
                out[y0 - y:y1 - y, x0 - x:x1 - x] = tile[y0 - top:y1 - top, x0 - left:x1 - left]
        return out

    @staticmethod
    def _tiles_in(level: SlideLevel, x: int, y: int, width: int, height: int) -> list[tuple[int, int]]:
        rows, cols = level.grid_shape
        tile_width, tile_height = level.tile_size
        x0, x1 = max(0, x), min(level.size[0], x + width)
        y0, y1 = max(0, y), min(level.size[1], y + height)
        if x0 >= x1 or y0 >= y1:
            return []
        return [(row, col) for row in range(y0 // tile_height, min(rows, -(-y1 // tile_height)))
                for col in range(x0 // tile_width, min(cols, -(-x1 // tile_width)))]

    def _fetch(self, level: int, places: list[tuple[int, int]]) -> list[np.ndarray | None]:
        """The tiles at `places`: from the cache, else read and decoded in parallel."""
        tiles: list[Any] = [self.cache.get((level, row, col)) for row, col in places]
        jobs = {}
        for position, (row, col) in enumerate(places):
            if tiles[position] is not None:
                continue
            located = self.levels[level].locate(row, col)
            if located is None:
                continue
            if not located[0].encapsulated or len(places) == 1:
                tiles[position] = self._load(*located)
            else:
                jobs[position] = self._pool().submit(self._load, *located)
        for position, job in jobs.items():
            tiles[position] = job.result()
        for position, (row, col) in enumerate(places):
            if tiles[position] is not None:
                self.cache.put((level, row, col), tiles[position])
        return tiles

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="slide-tiles")
            return self._executor

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Release the decoding threads, descriptors, caches and associated documents (idempotent)."""
        self.closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for document in self._documents.values():
            document.close()
        self._documents.clear()
        self.descriptors.close()
        self.cache.clear()

    def __enter__(self) -> "Slide":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{level.size[0]}x{level.size[1]}" for level in self.levels)
        return f"<Slide {os.path.basename(os.path.abspath(self.folder))!r} levels [{sizes}]>"

