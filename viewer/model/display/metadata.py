"""What the header says about showing pixels: rescale, windows, frame time.

Pure functions of the dataset, no pixel access. Per-frame values come from
the Per-frame Functional Groups Sequence where the file has one, else from
the Shared Functional Groups, else from the top-level elements.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from viewer.model.errors import DicomError


@dataclass(frozen=True)
class WindowPreset:
    """A window centre/width pair with a name for menus."""

    center: float
    width: float
    name: str


def _floats(value) -> list[float]:
    if value is None or value == "":
        return []
    try:
        return [float(v) for v in value] if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") else [
            float(value)
        ]
    except (TypeError, ValueError):
        return []


PerFrameLookup = Callable[[int], "Dataset | None"]


def _guarded(default):
    """Return `default` when a malformed element makes pydicom raise (never crash on display data)."""

    def wrap(function):
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except DicomError:
                raise
            except Exception:
                return default() if callable(default) else default

        return guarded

    return wrap


def _functional_item(
    dataset: Dataset, index: int, sequence_keyword: str, per_frame: PerFrameLookup | None = None
) -> Dataset | None:
    """The functional group item holding `sequence_keyword` for frame `index`.

    `per_frame` returns frame `index`'s Per-frame Functional Groups item when
    the document parses that sequence lazily (it is then not in `dataset`).
    """
    if per_frame is not None:
        item = per_frame(index)
        sequence = item.get(sequence_keyword) if item is not None else None
        if sequence:
            return sequence[0]
    for group_keyword, position in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        groups = dataset.get(group_keyword)
        if not isinstance(groups, DicomSequence) or position >= len(groups):
            continue  # absent, or parsed lazily (then a MappedValue, handled above)
        sequence = groups[position].get(sequence_keyword)
        if sequence:
            return sequence[0]
    return None


@_guarded((1.0, 0.0))
def rescale_for_frame(
    dataset: Dataset, index: int = 0, per_frame: PerFrameLookup | None = None
) -> tuple[float, float]:
    """(slope, intercept) for frame `index`; (1, 0) where the file has none."""
    item = _functional_item(dataset, index, "PixelValueTransformationSequence", per_frame)
    source = item if item is not None else dataset
    slopes = _floats(source.get("RescaleSlope"))
    intercepts = _floats(source.get("RescaleIntercept"))
    slope = slopes[0] if slopes and slopes[0] != 0 else 1.0
    intercept = intercepts[0] if intercepts else 0.0
    return slope, intercept


@_guarded("")
def rescale_unit(dataset: Dataset, per_frame: PerFrameLookup | None = None) -> str:
    """Unit of rescaled values: Rescale Type ("HU", "US" means unspecified), or HU for CT."""
    item = _functional_item(dataset, 0, "PixelValueTransformationSequence", per_frame)
    source = item if item is not None else dataset
    unit = str(source.get("RescaleType", "") or "").strip()
    if unit and unit.upper() != "US":
        return unit
    if str(dataset.get("Modality", "")).upper() == "CT" and "RescaleIntercept" in source:
        return "HU"
    return ""


@_guarded(list)
def window_presets(dataset: Dataset, per_frame: PerFrameLookup | None = None) -> list[WindowPreset]:
    """Window centre/width presets from the file (top level, then functional groups)."""
    source: Dataset | None = dataset
    if "WindowCenter" not in dataset:
        source = _functional_item(dataset, 0, "FrameVOILUTSequence", per_frame)
    if source is None:
        return []
    centers = _floats(source.get("WindowCenter"))
    widths = _floats(source.get("WindowWidth"))
    names_value = source.get("WindowCenterWidthExplanation", [])
    names = [str(n) for n in names_value] if not isinstance(names_value, str) else [names_value]
    presets = []
    for i, (center, width) in enumerate(zip(centers, widths)):
        if width <= 0:
            continue
        name = names[i] if i < len(names) and names[i] else f"File window {i + 1}"
        presets.append(WindowPreset(center, width, name))
    return presets


@_guarded(None)
def frame_time_ms(dataset: Dataset) -> float | None:
    """Time per frame in milliseconds from Frame Time, Frame Time Vector, Cine Rate
    or Recommended Display Frame Rate; None if the file gives none."""
    frame_time = _floats(dataset.get("FrameTime"))
    if frame_time and frame_time[0] > 0:
        return frame_time[0]
    vector = [t for t in _floats(dataset.get("FrameTimeVector")) if t > 0]
    if vector:
        return sum(vector) / len(vector)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _floats(dataset.get(keyword))
        if rate and rate[0] > 0:
            return 1000.0 / rate[0]
    return None
