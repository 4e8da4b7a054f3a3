"""pydicom's own grey pipeline, scaled as issue 17 defines, for comparisons.

``apply_voi_lut(apply_modality_lut(frame, ds), ds)`` scaled so that the
darkest value it gives over every stored value maps to 0 and the brightest
to 255, inverted for MONOCHROME1. Written from pydicom's functions and the
Image Pixel values alone, without Cinemap's code.
"""

from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from reference_files import reference_files


@functools.lru_cache(maxsize=1)
def classic_grey_files() -> list[Path]:
    """Reference files that are classic (not enhanced) single-sample MONOCHROME images, by header."""
    found = []
    for path in reference_files():
        try:
            dataset = pydicom.dcmread(path, defer_size=256)
        except Exception:
            continue
        if "PixelData" not in dataset or "PerFrameFunctionalGroupsSequence" in dataset:
            continue
        try:
            grey = dataset.get("SamplesPerPixel", 1) == 1 and str(dataset.PhotometricInterpretation) in (
                "MONOCHROME1", "MONOCHROME2")
        except Exception:
            continue
        if grey:
            found.append(path)
    return found


@functools.lru_cache(maxsize=1)
def decodable_grey_files() -> list[Path]:
    """The :func:`classic_grey_files` whose pixel data pydicom decodes: the ones it can be a reference for.

    Chosen when the tests are collected (about 2 s), so that a file pydicom
    cannot decode is no test at all here, rather than a test that skips.
    What Cinemap does with those files (frames, or a DicomError) is checked
    by ``tests/test_conformance.py``.
    """
    decodable = []
    for path in classic_grey_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(path).pixel_array
        except Exception:  # noqa: BLE001 -- any failure: pydicom is no reference for this file
            continue
        decodable.append(path)
    return decodable


def stored_values(dataset) -> np.ndarray:
    """Every value Bits Stored and Pixel Representation allow (an even sample past 2**17 of them)."""
    bits = int(dataset.BitsStored)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dataset.PixelRepresentation else (0, (1 << bits) - 1)
    if high - low < 1 << 17:
        return np.arange(low, high + 1, dtype=np.int64)
    return np.unique(np.rint(np.linspace(low, high, 1 << 17)).astype(np.int64))


def with_window(dataset, center: float, width: float):
    """A copy of `dataset` whose only VOI is the window `center`/`width`."""
    dataset = copy.deepcopy(dataset)
    for keyword in ("VOILUTSequence", "WindowCenterWidthExplanation"):
        if keyword in dataset:
            del dataset[keyword]
    dataset.WindowCenter, dataset.WindowWidth = center, width
    return dataset


def pydicom_grey(dataset, frame: np.ndarray) -> np.ndarray:
    """uint8 grey levels of `frame` by pydicom's pipeline, scaled over the stored range."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = apply_voi_lut(apply_modality_lut(frame, dataset), dataset).astype(np.float64)
        reachable = apply_voi_lut(apply_modality_lut(stored_values(dataset), dataset), dataset).astype(np.float64)
    low, high = reachable.min(), reachable.max()
    grey = np.rint(np.clip(255 * (values - low) / (high - low), 0, 255)) if high > low else np.zeros_like(values)
    if dataset.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return grey.astype(np.uint8)


def assert_grey_close(got: np.ndarray, expected: np.ndarray, within: int = 1, fraction: float = 0.999) -> None:
    """At least `fraction` of the pixels differ by at most `within` grey levels."""
    assert got.shape == expected.shape, (got.shape, expected.shape)
    difference = np.abs(got.astype(np.int32) - expected.astype(np.int32))
    close = float((difference <= within).mean())
    assert close >= fraction, f"only {close:.4%} of pixels within {within} (largest difference {difference.max()})"


def data_window(dataset, frame: np.ndarray) -> tuple[float, float]:
    """A window over the 10th to 90th percentile of the frame's modality values (narrower than its range)."""
    values = apply_modality_lut(frame, dataset).astype(np.float64)
    low, high = np.percentile(values, (10, 90))
    return float(round((low + high) / 2)), float(max(2, round(high - low)))
