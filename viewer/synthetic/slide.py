"""Streaming writer of synthetic whole-slide images (VL Whole Slide Microscopy Image Storage).

:func:`write_slide` writes one series into one folder: a pyramid of 3+
levels made by area averaging (:mod:`viewer.synthetic.slide_pixels`), tiled
TILED_FULL or TILED_SPARSE (Plane Position (Slide) per tile in the Per-frame
Functional Groups), tiles native, JPEG, JPEG 2000 or JPEG-LS
(:mod:`viewer.synthetic.slide_codec`), one level optionally split over two
files (a concatenation), and LABEL, OVERVIEW and THUMBNAIL images; the label
shows the fake patient's name in large print.

Memory stays bounded whatever the slide's size: tiles are computed and
encoded one at a time and appended to the file; the Basic (or Extended)
Offset Table is reserved before the fragments and filled in at the end.
Headers are built with pydicom; the Per-frame Functional Groups items and the
Pixel Data element are written as bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from viewer.synthetic.dataset import encode_header
from viewer.synthetic.slide_codec import Compression, compression, encode_tile
from viewer.synthetic.slide_dataset import InstanceGeometry, SeriesUids, build_dataset, sparse_item
from viewer.synthetic.slide_pixels import TilePyramid, label_image, overview_image

__all__ = ["SlideFiles", "SlideSpec", "write_slide"]

_ITEM = struct.Struct("<HHI")
_MAX_BASIC_OFFSET = 0xFFFFFFFF


def default_missing(row: int, col: int) -> bool:
    """Level-0 tiles left out of TILED_SPARSE slides: a scattered tenth of them."""
    return (row * 7 + col * 3) % 10 == 4


@dataclass
class SlideSpec:
    """What :func:`write_slide` writes.

    Attributes
    ----------
    width, height, tile_size, levels
        Level-0 size, tile size, number of pyramid levels (each half the one before).
    tiling : {"TILED_FULL", "TILED_SPARSE"}
    compression : {"none", "jpeg", "jpeg2000", "jpeg2000-lossy", "jpegls"}
    missing : callable
        ``missing(row, col)`` of level-0 tiles absent from TILED_SPARSE files.
    concatenated_level : int or None
        Split this level over two files (a concatenation).
    offset_table : {"auto", "basic", "extended", "none"}
        For compressed tiles: Basic Offset Table (Extended when the pixel data
        passes 4 GiB with "auto"), Extended, or none (readers must scan items).
    period : int or None
        Repeat level-0 content every `period` tiles (fast writes of huge slides).
    associated : bool
        Also write the LABEL, OVERVIEW and THUMBNAIL images.
    """

    width: int = 2000
    height: int = 1500
    tile_size: int = 256
    levels: int = 3
    tiling: str = "TILED_FULL"
    compression: str = "none"
    quality: int = 90
    missing: Callable[[int, int], bool] = default_missing
    concatenated_level: int | None = None
    offset_table: str = "auto"
    period: int | None = None
    associated: bool = True
    associated_compression: str = "jpeg"
    patient_name: str = "DOE^JANE"
    pixel_spacing_mm: float = 0.00025


@dataclass
class SlideFiles:
    """What :func:`write_slide` wrote."""

    folder: str
    series_uid: str
    levels: list[list[str]] = field(default_factory=list)
    label: str | None = None
    overview: str | None = None
    thumbnail: str | None = None
    pyramid: TilePyramid | None = None

    @property
    def all_paths(self) -> list[str]:
        paths = [path for level in self.levels for path in level]
        return paths + [path for path in (self.label, self.overview, self.thumbnail) if path]


def write_slide(folder: str | os.PathLike[str], spec: SlideSpec | None = None, **options) -> SlideFiles:
    """Write a synthetic slide into `folder` (created if needed); see :class:`SlideSpec`.

    Keyword `options` override fields of `spec`.
    """
    spec = spec or SlideSpec()
    for key, value in options.items():
        if not hasattr(spec, key):
            raise TypeError(f"unknown slide option {key!r}")
        setattr(spec, key, value)
    if spec.tiling not in ("TILED_FULL", "TILED_SPARSE"):
        raise ValueError(f"unknown tiling {spec.tiling!r}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    missing = spec.missing if spec.tiling == "TILED_SPARSE" else None
    pyramid = TilePyramid(spec.width, spec.height, spec.tile_size, spec.levels, missing=missing, period=spec.period)
    uids = SeriesUids.new()
    files = SlideFiles(folder, uids.series, pyramid=pyramid)
    kind = compression(spec.compression)
    for level in range(spec.levels):
        files.levels.append(_write_level(folder, spec, uids, pyramid, level, kind))
    if spec.associated:
        _write_associated(folder, spec, uids, pyramid, files)
    return files


# ------------------------------------------------------------------- levels
def _level_tiles(spec: SlideSpec, pyramid: TilePyramid, level: int) -> list[tuple[int, int]]:
    """(row, col) of the tiles the level's file(s) hold, in frame order."""
    rows, cols = pyramid.grid(level)
    if spec.tiling == "TILED_FULL":
        return [(row, col) for row in range(rows) for col in range(cols)]
    # Column by column: readers must use the positions, not assume row order.
    return [(row, col) for col in range(cols) for row in range(rows) if not pyramid.missing(level, row, col)]


def _write_level(folder, spec: SlideSpec, uids: SeriesUids, pyramid: TilePyramid, level: int,
                 kind: Compression) -> list[str]:
    tiles = _level_tiles(spec, pyramid, level)
    width, height = pyramid.sizes[level]
    spacing = spec.pixel_spacing_mm * spec.width / width
    parts = 2 if spec.concatenated_level == level and len(tiles) > 1 else 1
    bounds = [len(tiles) * part // parts for part in range(parts + 1)]
    source_uid, concatenation_uid = generate_uid(), generate_uid()
    encodings: dict = {}
    paths = []
    for part in range(parts):
        chunk = tiles[bounds[part]:bounds[part + 1]]
        concatenation = (concatenation_uid, source_uid, part + 1, bounds[part], parts) if parts > 1 else None
        geometry = InstanceGeometry(
            "VOLUME" if level == 0 else "RESAMPLED", width, height, spec.tile_size, spec.tile_size, len(chunk),
            spacing, spec.tiling, instance_number=level + 1, concatenation=concatenation,
        )
        suffix = f"-part{part + 1}" if parts > 1 else ""
        path = os.path.join(folder, f"level{level}{suffix}.dcm")
        items = None
        if spec.tiling == "TILED_SPARSE":
            items = (_position_item(spec, row, col, spacing) for row, col in chunk)
        encoded = (_encoded(pyramid, level, row, col, kind, spec.quality, encodings) for row, col in chunk)
        dataset = build_dataset(uids, geometry, photometric=kind.photometric, lossy=kind.lossy,
                                transfer_syntax=kind.transfer_syntax, patient_name=spec.patient_name, burned_in=False)
        write_instance(path, dataset, encoded, len(chunk), kind, items, spec.offset_table)
        paths.append(path)
    return paths


def _encoded(pyramid: TilePyramid, level: int, row: int, col: int, kind: Compression, quality: int,
             cache: dict) -> bytes:
    """The tile's stored bytes; with a repeating pattern each distinct tile is encoded once per level."""
    key = pyramid.memo_key(level, row, col)
    if key is None:
        return encode_tile(pyramid.tile(level, row, col), kind, quality)
    encoded = cache.get(key)
    if encoded is None:
        encoded = cache[key] = encode_tile(pyramid.tile(level, row, col), kind, quality)
    return encoded


def _position_item(spec: SlideSpec, row: int, col: int, spacing_mm: float) -> bytes:
    column_position, row_position = col * spec.tile_size + 1, row * spec.tile_size + 1
    # Image Orientation (Slide) 0\-1\0\-1\0\0: columns run along -Y, rows along -X, from the origin (20, 40).
    x_mm = 20.0 - (row_position - 1) * spacing_mm
    y_mm = 40.0 - (column_position - 1) * spacing_mm
    return sparse_item(column_position, row_position, col + 1, row + 1, x_mm, y_mm)


# --------------------------------------------------------- associated images
def _write_associated(folder, spec: SlideSpec, uids: SeriesUids, pyramid: TilePyramid, files: SlideFiles) -> None:
    kind = compression(spec.associated_compression)
    label = label_image(spec.patient_name)
    coarsest = pyramid.level_image(pyramid.levels - 1)
    images = {
        "LABEL": label,
        "OVERVIEW": overview_image(label, coarsest),
        "THUMBNAIL": coarsest,
    }
    for number, (flavour, pixels) in enumerate(images.items(), start=100):
        height, width = pixels.shape[:2]
        spacing = spec.pixel_spacing_mm * spec.width / width if flavour == "THUMBNAIL" else 0.025
        geometry = InstanceGeometry(flavour, width, height, width, height, 1, spacing, instance_number=number)
        dataset = build_dataset(uids, geometry, photometric=kind.photometric, lossy=kind.lossy,
                                transfer_syntax=kind.transfer_syntax, patient_name=spec.patient_name,
                                burned_in=flavour != "THUMBNAIL")
        path = os.path.join(folder, f"{flavour.lower()}.dcm")
        write_instance(path, dataset, iter([encode_tile(pixels, kind, spec.quality)]), 1, kind, None, spec.offset_table)
        setattr(files, flavour.lower(), path)


# ------------------------------------------------------------ one instance
def write_instance(
    path: str, dataset: pydicom.Dataset, frames: Iterator[bytes], count: int, kind: Compression,
    per_frame_items: Iterator[bytes] | None = None, offset_table: str = "auto",
) -> None:
    """Stream one instance: pydicom's header, per-frame items, offset tables, then the frames."""
    extended = offset_table == "extended" or (offset_table == "auto" and kind.encapsulated and count > 1)
    with open(path, "wb") as file:
        file.write(encode_header(dataset))
        if per_frame_items is not None:
            file.write(struct.pack("<HH2sHI", 0x5200, 0x9230, b"SQ", 0, 0xFFFFFFFF))
            for item in per_frame_items:
                file.write(item)
            file.write(_ITEM.pack(0xFFFE, 0xE0DD, 0))
        if not kind.encapsulated:
            _write_native(file, frames, count)
            return
        table_at = None
        if extended:
            table_at = file.tell() + 12
            for element in (0x0001, 0x0002):
                file.write(struct.pack("<HH2sHI", 0x7FE0, element, b"OV", 0, 8 * count) + bytes(8 * count))
        file.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        basic = offset_table in ("basic", "auto") and not extended
        file.write(_ITEM.pack(0xFFFE, 0xE000, 4 * count if basic else 0))
        basic_at = file.tell()
        if basic:
            file.write(bytes(4 * count))
        offsets, lengths = _write_fragments(file, frames)
        file.write(_ITEM.pack(0xFFFE, 0xE0DD, 0))
        if len(offsets) != count:
            raise ValueError(f"{path}: {len(offsets)} frames written, {count} declared")
        if basic:
            if offsets and offsets[-1] > _MAX_BASIC_OFFSET:
                raise ValueError(f"{path}: the pixel data passes 4 GiB; use offset_table='extended'")
            file.seek(basic_at)
            file.write(np.asarray(offsets, "<u4").tobytes())
        if table_at is not None:
            file.seek(table_at)
            file.write(np.asarray(offsets, "<u8").tobytes())
            file.seek(table_at + 8 * count + 12)
            file.write(np.asarray(lengths, "<u8").tobytes())


def _write_native(file, frames: Iterator[bytes], count: int) -> None:
    header_at = file.tell()
    file.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0))
    total = 0
    for frame in frames:
        file.write(frame)
        total += len(frame)
    if total % 2:
        file.write(b"\x00")
        total += 1
    if total > 0xFFFFFFFE:
        raise ValueError("native pixel data passes 4 GiB: split the level (concatenated_level)")
    file.seek(header_at + 8)
    file.write(struct.pack("<I", total))


def _write_fragments(file, frames: Iterator[bytes]) -> tuple[list[int], list[int]]:
    """One fragment per frame; offsets from the first fragment, lengths of the codestreams."""
    offsets, lengths, position = [], [], 0
    for frame in frames:
        padded = frame + b"\x00" * (len(frame) % 2)
        file.write(_ITEM.pack(0xFFFE, 0xE000, len(padded)))
        file.write(padded)
        offsets.append(position)
        lengths.append(len(padded))
        position += 8 + len(padded)
    return offsets, lengths
