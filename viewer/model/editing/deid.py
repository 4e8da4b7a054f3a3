"""De-identification of ultrasound cine: keep the image regions, mask the rest.

Ultrasound files describe where the real image is in the Sequence of
Ultrasound Regions (0018,6011); everything outside is text and graphics,
often burned-in patient data. The rule pydicom's ``deid`` project ships for
ultrasound masks every pixel outside the union of the regions'
``RegionLocationMinX0/MinY0/MaxX1/MaxY1`` rectangles (inclusive bounds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Region:
    """An inclusive pixel rectangle: columns x0..x1, rows y0..y1."""

    x0: int
    y0: int
    x1: int
    y1: int


def ultrasound_regions(dataset: Dataset, rows: int, columns: int) -> list[Region]:
    """The regions of (0018,6011) clipped to the frame; empty if there are none."""
    regions = []
    try:
        items = list(dataset.get("SequenceOfUltrasoundRegions") or [])
    except Exception:
        return []
    for item in items:
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except Exception:  # malformed region values: skip the region, never crash
            continue
        x0, x1 = max(0, min(x0, x1)), min(columns - 1, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(rows - 1, max(y0, y1))
        if x0 <= x1 and y0 <= y1:
            regions.append(Region(x0, y0, x1, y1))
    return regions


def inside_regions(regions: list[Region], rows: int, columns: int) -> np.ndarray:
    """Boolean (rows, columns) mask, True inside any region."""
    inside = np.zeros((rows, columns), dtype=bool)
    for region in regions:
        inside[region.y0 : region.y1 + 1, region.x0 : region.x1 + 1] = True
    return inside


def burned_in_annotation_patch(dataset: Dataset, file_bytes: np.ndarray, implicit_vr: bool,
                                little_endian: bool) -> tuple[int, bytes] | None:
    """(file offset, same-length bytes) that record Burned In Annotation "NO".

    None if the element is absent, already NO, or its bytes in the file do
    not match what was parsed. The value is padded with spaces to its length
    on disk, read from the element header (a change of length in place is
    never allowed).
    """
    if "BurnedInAnnotation" not in dataset:
        return None
    element = dataset["BurnedInAnnotation"]
    value = str(element.value or "").strip().upper()
    offset = getattr(element, "file_tell", None)
    if value == "NO" or offset is None or offset < 8:
        return None
    order = "<" if little_endian else ">"
    if implicit_vr:
        length = int(np.frombuffer(file_bytes[offset - 4 : offset].tobytes(), dtype=order + "u4")[0])
    else:
        length = int(np.frombuffer(file_bytes[offset - 2 : offset].tobytes(), dtype=order + "u2")[0])
    on_disk = file_bytes[offset : offset + length].tobytes()
    if length < 2 or on_disk.decode("ascii", "replace").strip().upper() != value:
        return None
    return int(offset), b"NO".ljust(length, b" ")


def black_value(geometry: Any, slope: float = 1.0) -> int:
    """The stored value shown darkest: the smallest, or the largest for MONOCHROME1.

    A negative Rescale Slope turns it around once more. What a mask should
    hold to hide burned-in text: 0 is white in a MONOCHROME1 image. For
    colour images (and without pixel data), 0 in every channel.
    """
    if geometry is None or geometry.samples_per_pixel > 1:
        return 0
    low, high = geometry.stored_limits
    darkest_is_high = geometry.photometric_interpretation == "MONOCHROME1"
    if slope < 0:
        darkest_is_high = not darkest_is_high
    return high if darkest_is_high else low
