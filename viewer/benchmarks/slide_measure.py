"""The worker side of the whole-slide rows: one reader opens a slide and reads regions (see :mod:`.slide`)."""

from __future__ import annotations

import time
from typing import Any, Callable


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side: one reader on one slide, in a fresh process."""
    reader, folder = spec["reader"], spec["path"]
    opener, read = _reader(reader)
    started = time.perf_counter()
    slide = opener(folder)
    opened = time.perf_counter()
    size = tuple(spec["size"])
    read(slide, (0, 0), size)
    first = time.perf_counter()
    read(slide, tuple(spec["second_location"]), size)
    second = time.perf_counter()
    slide.close()
    return {
        "open_ms": (opened - started) * 1000,
        "open_first_region_ms": (first - started) * 1000,
        "cold_region_ms": (second - first) * 1000,
    }


def _reader(name: str) -> tuple[Callable[[str], Any], Callable[[Any, tuple, tuple], Any]]:
    if name == "cinemap":
        from viewer.model import open_slide

        return open_slide, lambda slide, location, size: slide.read_region(location, 0, size)
    from wsidicom import WsiDicom

    return WsiDicom.open, lambda slide, location, size: slide.read_region(location, 0, size, as_array=True)


