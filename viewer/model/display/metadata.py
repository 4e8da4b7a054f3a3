"""What the header says about showing pixels: window presets, frame time.

Pure functions of the dataset, no pixel access. Per-frame rescale and
windows are read by :mod:`viewer.model.display.voi`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pydicom.dataset import Dataset

from viewer.model.errors import DicomError


@dataclass(frozen=True)
class VoiRef:
    """One of the file's VOIs: the `index`-th VOI LUT (``kind == "lut"``) or window (``"window"``).

    Resolved per frame: in an enhanced file, "window 1" is each frame's own
    first window.
    """

    kind: str
    index: int


@dataclass(frozen=True)
class WindowPreset:
    """A window centre/width pair with a name for menus.

    `source` names the file's VOI it stands for (then it is resolved per
    frame, and may be a VOI LUT rather than a window); None for a window of
    the viewer's own (automatic, full range, the user's).
    """

    center: float
    width: float
    name: str
    source: VoiRef | None = None


def floats(value) -> list[float]:
    """The numbers of a DS/IS/FD value (one or many); [] where it has none or cannot be read."""
    if value is None or value == "":
        return []
    try:
        return [float(v) for v in value] if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__") else [
            float(value)
        ]
    except (TypeError, ValueError):
        return []


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


@_guarded(None)
def frame_time_ms(dataset: Dataset) -> float | None:
    """Time per frame in milliseconds from Frame Time, Frame Time Vector, Cine Rate
    or Recommended Display Frame Rate; None if the file gives none."""
    frame_time = floats(dataset.get("FrameTime"))
    if frame_time and frame_time[0] > 0:
        return frame_time[0]
    vector = [t for t in floats(dataset.get("FrameTimeVector")) if t > 0]
    if vector:
        return sum(vector) / len(vector)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = floats(dataset.get(keyword))
        if rate and rate[0] > 0:
            return 1000.0 / rate[0]
    return None
