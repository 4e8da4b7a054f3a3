"""Open time on an Enhanced CT-like file with a large Per-frame Functional Groups Sequence.

The file is written by :func:`viewer.synthetic.enhanced.write_enhanced`
(64x64 16-bit frames, every sequence and item of undefined length, a rescale
that differs from frame to frame: :func:`~viewer.synthetic.enhanced.expected_rescale`).

:func:`measure` is the worker side: open time of ``open_document`` versus
``pydicom.dcmread``, and the cost of ``pydicom.pixels.pixel_array(path,
index=k)`` per frame, which parses the whole header on every call.
"""

from __future__ import annotations

import os
import pathlib
import time
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from viewer.benchmarks import probe
from viewer.synthetic.enhanced import expected_rescale, write_enhanced

__all__ = ["BENCH_SIZE", "measure", "write_bench_file"]

BENCH_SIZE = 64
"""Rows and columns of the bench's enhanced frames."""


def write_bench_file(path: str | os.PathLike[str], frames: int) -> pathlib.Path:
    """The bench's enhanced file: `frames` frames of 64x64 under one per-frame item each."""
    return write_enhanced(path, frames, rows=BENCH_SIZE, columns=BENCH_SIZE)


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Open time of one method on an enhanced file (``spec["method"]``).

    Methods: ``cinemap`` (``open_document`` then ``Document.rescale(k)`` on
    sample frames, checked against :func:`expected_rescale`),
    ``pydicom_dcmread`` (``dcmread(path)``, pixel data read as pydicom does by
    default) and ``pydicom_index`` (``pixel_array(path, index=k)``, per call).
    The file is in the page cache for every method.
    """
    path, frames, method = spec["path"], int(spec["frames"]), spec["method"]
    probe.warm_up_pydicom()
    if method == "cinemap":
        import viewer.model  # noqa: F401  (imports are not timed)
    elif method == "pydicom_index":
        from pydicom import pixels  # noqa: F401
    probe.warm_ranges(path, [(0, os.path.getsize(path))])
    samples = sorted({0, 1, frames // 2, frames - 1} | set(np.random.default_rng(7).integers(0, frames, 16).tolist()))
    result: dict[str, Any] = {"method": method, "frames": frames}
    if method == "cinemap":
        result.update(_measure_cinemap(path, samples))
    elif method == "pydicom_dcmread":
        result.update(_measure_dcmread(path, samples))
    elif method == "pydicom_index":
        from pydicom.pixels import pixel_array

        indices = samples[:3]
        durations = probe.time_each(indices, lambda k: pixel_array(path, index=k).sum())
        result["per_frame"] = probe.summarize_ms(durations)
    else:
        raise ValueError(f"unknown enhanced method {method!r}")
    return result


def _measure_cinemap(path: str, samples: list[int]) -> dict[str, Any]:
    from viewer.model import open_document

    last = samples[-1]
    started = time.perf_counter()
    document = open_document(path)
    opened = time.perf_counter()
    try:
        last_rescale = document.rescale(last)
        looked_up = time.perf_counter()
        rescales = [document.rescale(k) for k in samples]
        document.frame(last).sum()
    finally:
        document.close()
    wrong = [k for k, got in zip(samples, rescales) if tuple(got) != expected_rescale(k)]
    if tuple(last_rescale) != expected_rescale(last):
        wrong.append(last)
    return {
        "open_ms": round((opened - started) * 1000, 3),
        "open_and_last_rescale_ms": round((looked_up - started) * 1000, 3),
        "rescale_ok": not wrong,
        "rescale_wrong_frames": wrong[:5],
    }


def _measure_dcmread(path: str, samples: list[int]) -> dict[str, Any]:
    last = samples[-1]
    started = time.perf_counter()
    dataset = pydicom.dcmread(path)
    opened = time.perf_counter()
    groups = dataset.PerFrameFunctionalGroupsSequence
    last_rescale = _pydicom_rescale(groups[last])
    looked_up = time.perf_counter()
    ok = last_rescale == expected_rescale(last) and all(
        _pydicom_rescale(groups[k]) == expected_rescale(k) for k in samples
    )
    return {
        "open_ms": round((opened - started) * 1000, 3),
        "open_and_last_rescale_ms": round((looked_up - started) * 1000, 3),
        "rescale_ok": ok,
    }


def _pydicom_rescale(group: Dataset) -> tuple[float, float]:
    item = group.PixelValueTransformationSequence[0]
    return float(item.RescaleSlope), float(item.RescaleIntercept)
