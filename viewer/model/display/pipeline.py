"""Stored values to grey levels 0..255 by the standard's grey pipeline.

Modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence), then VOI
(a window with its VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID, or a
VOI LUT Sequence item), then the inversion of MONOCHROME1 or of Presentation
LUT Shape INVERSE. The transforms are pydicom's own
(:func:`~pydicom.pixels.processing.apply_modality_lut`,
:func:`~pydicom.pixels.processing.apply_windowing`,
:func:`~pydicom.pixels.processing.apply_voi`), applied to a frame's
:func:`~viewer.model.display.voi.frame_display_dataset`.

**Scaling.** The pipeline's output v is shown as
``round(255 * (v - vmin) / (vmax - vmin))``, where vmin and vmax are the
darkest and brightest values the pipeline produces over the whole stored range
(every value Bits Stored and Pixel Representation allow), so a VOI LUT whose
entries use only part of their bit depth still spans black to white, and a
window reaching past the stored range stretches what is left of it.

**Three ways to compute it**, chosen once per (frame group, VOI), cached:

* :class:`LinearMapping` where the pipeline is linear (rescale and a LINEAR
  or LINEAR_EXACT window, or no VOI): two *levels* in stored units, the
  stored values shown black and white. The viewer hands them to the
  renderer, so a frame is never transformed in Python.
* :class:`TableMapping` for other integer data of at most 16 bits: the
  pipeline is applied once to every stored value and a frame is one
  ``take`` from a 256- or 65,536-entry uint8 table.
* :class:`ComputedMapping` for wider or float data: the pipeline on the
  frame itself (the viewer gives it a screen-sized image).

**Inversion** happens after scaling (``255 - level``): once for MONOCHROME1
or Presentation LUT Shape INVERSE, never twice, because in an image the
standard pairs INVERSE with MONOCHROME1 to name the same inversion
(PS3.3 C.8.11.7).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Iterable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi, apply_windowing

from viewer.model.dicom.geometry import PixelGeometry
from viewer.model.display import render, voi
from viewer.model.display.metadata import WindowPreset

_CACHED_MAPPINGS = 128  # tables of at most 64 KiB: 8 MiB at most
_TABLE_MAX_VALUES = 1 << 16


def scale_to_grey(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """``round(255 * (v - vmin) / (vmax - vmin))`` as uint8, clipped; all 0 when vmax == vmin."""
    if not vmax > vmin:
        return np.zeros(np.shape(values), dtype=np.uint8)
    scaled = (np.asarray(values, dtype=np.float64) - vmin) * (255.0 / (vmax - vmin))
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


class GreyMapping:
    """How one frame group's stored values become grey levels 0..255 (before inversion).

    Attributes
    ----------
    levels : (float, float) or None
        For a linear pipeline, the stored values shown black and white (the
        first may be the larger: high values dark); None otherwise.
    """

    levels: tuple[float, float] | None = None

    def normalised(self, frame: np.ndarray) -> np.ndarray:
        """Grey levels of `frame` (uint8, same rows and columns), not inverted."""
        raise NotImplementedError


class LinearMapping(GreyMapping):
    """A linear pipeline: black at ``levels[0]``, white at ``levels[1]`` (stored units)."""

    levels: tuple[float, float]

    def __init__(self, levels: tuple[float, float]) -> None:
        self.levels = (float(levels[0]), float(levels[1]))

    def normalised(self, frame: np.ndarray) -> np.ndarray:
        black, white = self.levels
        return scale_to_grey((np.asarray(frame, dtype=np.float64) - black) / (white - black), 0.0, 1.0)


class TableMapping(GreyMapping):
    """A uint8 table over the stored values.

    With `index_dtype` the table has one entry per bit pattern of that
    unsigned type and a frame (of the same width) is looked up through a
    view, with no arithmetic; otherwise entry 0 is stored value `offset`.
    """

    def __init__(self, table: np.ndarray, offset: int, index_dtype: np.dtype | None) -> None:
        self.table = table
        self.offset = offset
        self.index_dtype = index_dtype

    def normalised(self, frame: np.ndarray) -> np.ndarray:
        frame = render.contiguous_native(frame)
        if self.index_dtype is not None and frame.dtype.itemsize == self.index_dtype.itemsize \
                and frame.dtype.kind in "iu":
            return self.table[frame.view(self.index_dtype)]
        index = np.clip(frame, self.offset, self.offset + len(self.table) - 1).astype(np.int64) - self.offset
        return self.table[index]


class ComputedMapping(GreyMapping):
    """The pipeline applied to each frame; vmin/vmax fixed (or per frame where None)."""

    def __init__(self, transform, vmin: float | None, vmax: float | None) -> None:
        self._transform = transform
        self.vmin, self.vmax = vmin, vmax

    def normalised(self, frame: np.ndarray) -> np.ndarray:
        values = self._transform(render.contiguous_native(frame))
        vmin, vmax = self.vmin, self.vmax
        if vmin is None or vmax is None:
            finite = values[np.isfinite(values)]
            vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        return scale_to_grey(np.nan_to_num(values, nan=vmin), vmin, vmax)


class GreyPipeline:
    """The grey display of one image: per-frame transforms, presets, mappings.

    Parameters
    ----------
    dataset : pydicom.dataset.Dataset
        The file's dataset.
    geometry : PixelGeometry
        Its checked Image Pixel values.
    per_frame : callable, optional
        ``per_frame(index)``: the frame's Per-frame Functional Groups item
        (:meth:`viewer.model.Document.per_frame_groups`).

    Notes
    -----
    A *choice* of VOI is a :class:`~viewer.model.display.metadata.WindowPreset`:
    with a `source` it names the file's VOI LUT or window, resolved per frame;
    without, it is a window of its own (in modality units, applied with the
    frame's VOI LUT Function). None means no VOI: the modality values over
    the stored range, black to white.
    """

    def __init__(self, dataset: Dataset, geometry: PixelGeometry, per_frame=None) -> None:
        self.dataset = dataset
        self.geometry = geometry
        self._per_frame = per_frame
        self._mappings: OrderedDict[tuple, GreyMapping] = OrderedDict()
        # Frame index -> its group key, and key -> display dataset: building a
        # display dataset costs a few hundred microseconds, too much per frame
        # of a cine. Without Per-frame Functional Groups every frame is alike.
        self._per_frame_groups = "PerFrameFunctionalGroupsSequence" in dataset
        self._uniform: tuple[Dataset, tuple] | None = None
        self._frame_keys: dict[int, tuple] = {}
        self._displays: OrderedDict[tuple, Dataset] = OrderedDict()
        self.is_float = geometry.dtype.kind == "f"
        self.stored_limits = geometry.stored_limits
        shape = str(dataset.get("PresentationLUTShape", "") or "").strip().upper()
        self.inverted = geometry.photometric_interpretation == "MONOCHROME1" or shape == "INVERSE"

    @classmethod
    def for_document(cls, document) -> "GreyPipeline":
        """The pipeline of an open :class:`~viewer.model.Document`."""
        return cls(document.dataset, document.geometry, document.per_frame_groups)

    # ------------------------------------------------------------ per frame
    def display_dataset(self, index: int = 0) -> Dataset:
        """Frame `index`'s transforms (:func:`~viewer.model.display.voi.frame_display_dataset`)."""
        return voi.frame_display_dataset(self.dataset, self.geometry, index, self._per_frame)

    def presets(self, index: int = 0) -> list[WindowPreset]:
        """The file's VOIs for frame `index`: VOI LUTs by their explanation, then windows."""
        return voi.file_presets(self.display_dataset(index))

    def default_choice(self, index: int = 0) -> WindowPreset | None:
        """The file's first VOI (its VOI LUT where it has one, as pydicom prefers), or None."""
        presets = self.presets(index)
        return presets[0] if presets else None

    def modality(self, index: int, values: np.ndarray) -> np.ndarray:
        """Modality values (float64) of stored `values` of frame `index`."""
        values = np.asarray(values)
        if values.dtype.kind in "iu":
            values = values.astype(np.int64)
        return np.asarray(apply_modality_lut(values, self._frame_group(index)[0]), dtype=np.float64)

    def full_range(self, index: int = 0) -> WindowPreset:
        """The window spanning every modality value the stored range gives."""
        display = self.display_dataset(index)
        bits, signed = self.geometry.bits_stored, bool(self.geometry.pixel_representation)
        if not voi.has_modality_lut(display) or self.is_float:
            return render.full_range_window(bits, signed, *voi.rescale_of(display))
        low, high = self.stored_limits
        values = self.modality(index, np.array([low, high]) if high - low >= _TABLE_MAX_VALUES
                               else np.arange(low, high + 1))
        least, most = float(values.min()), float(values.max())
        return WindowPreset((least + most + 1) / 2, most - least + 1, render.FULL_RANGE_NAME)

    def automatic_window(self, frames: Iterable[tuple[int, np.ndarray]]) -> WindowPreset | None:
        """The automatic window from percentiles of modality values of (index, frame) pairs."""
        samples = [self.modality(index, render.sample_grid(frame)) for index, frame in frames]
        if not samples:
            return None
        return render.window_from_values(np.concatenate(samples))

    # ------------------------------------------------------------- mappings
    def _frame_group(self, index: int) -> tuple[Dataset, tuple]:
        """Frame `index`'s display dataset and group key, remembered."""
        if self._uniform is not None:
            return self._uniform
        cached_key = self._frame_keys.get(index)
        if cached_key is not None:
            cached = self._displays.get(cached_key)
            if cached is not None:
                return cached, cached_key
        display = self.display_dataset(index)
        key = voi.group_key(display)
        if not self._per_frame_groups:
            self._uniform = (display, key)
            return self._uniform
        key = next((known for known in self._displays if known == key), key)  # one tuple per group
        self._frame_keys[index] = key
        self._displays[key] = display
        while len(self._displays) > _CACHED_MAPPINGS * 2:
            self._displays.popitem(last=False)
        return display, key

    def mapping(self, index: int, choice: WindowPreset | None) -> GreyMapping:
        """The :class:`GreyMapping` of frame `index` with VOI `choice` (cached per frame group)."""
        display, group = self._frame_group(index)
        choice_key = choice.source if choice is not None and choice.source is not None else (
            (choice.center, choice.width) if choice is not None else None)
        key = (group, choice_key)
        mapping = self._mappings.get(key)
        if mapping is None:
            mapping = self._build(display, choice)
            self._mappings[key] = mapping
            while len(self._mappings) > _CACHED_MAPPINGS:
                self._mappings.popitem(last=False)
        else:
            self._mappings.move_to_end(key)
        return mapping

    def render(self, frame: np.ndarray, index: int, choice: WindowPreset | None, invert: bool = False) -> np.ndarray:
        """Frame `index` as shown: uint8 grey levels, inverted as the file says (and again with `invert`)."""
        grey = self.mapping(index, choice).normalised(frame)
        if self.inverted != bool(invert):
            grey = np.subtract(255, grey, dtype=np.uint8)
        return grey

    def _build(self, display: Dataset, choice: WindowPreset | None) -> GreyMapping:
        resolved = self._resolve(display, choice)
        levels = self._linear_levels(display, resolved)
        if levels is not None:
            return LinearMapping(levels)

        def transform(values: np.ndarray) -> np.ndarray:
            return apply_pipeline(values, display, resolved)

        low, high = self.stored_limits
        if self.is_float:
            ends = np.array([-np.finfo(np.float32).max, np.finfo(np.float32).max])
            outputs = transform(ends) if resolved is not None else None
            vmin, vmax = (float(outputs.min()), float(outputs.max())) if outputs is not None else (None, None)
            return ComputedMapping(transform, vmin, vmax)
        if high - low < _TABLE_MAX_VALUES:
            table = scale_to_grey(*_stretch(transform(np.arange(low, high + 1, dtype=np.int64))))
            return self._table(table)
        outputs = transform(_candidates(display, resolved, low, high))
        return ComputedMapping(transform, float(outputs.min()), float(outputs.max()))

    def _table(self, table: np.ndarray) -> TableMapping:
        """A table indexed by the frame's bit patterns where its dtype is 8 or 16 bits wide."""
        low, high = self.stored_limits
        dtype = self.geometry.dtype
        if dtype.kind not in "iu" or dtype.itemsize > 2:
            return TableMapping(table, low, None)
        patterns = np.arange(1 << (8 * dtype.itemsize), dtype=np.int64)
        if dtype.kind == "i":
            patterns = patterns.astype(np.dtype(f"u{dtype.itemsize}")).view(dtype).astype(np.int64)
        return TableMapping(table[np.clip(patterns, low, high) - low], low, np.dtype(f"u{dtype.itemsize}"))

    @staticmethod
    def _resolve(display: Dataset, choice: WindowPreset | None) -> WindowPreset | None:
        """The frame's own VOI for a file preset (its window 1 for "window 1"); else `choice`."""
        if choice is None or choice.source is None:
            return choice
        return voi.resolve(display, choice.source) or WindowPreset(choice.center, choice.width, choice.name)

    def _linear_levels(self, display: Dataset, choice: WindowPreset | None) -> tuple[float, float] | None:
        """Black and white levels in stored units where the pipeline is linear; else None."""
        if voi.has_modality_lut(display):
            return None
        if choice is not None and (choice.source is not None and choice.source.kind == voi.LUT
                                   or voi_function(display, choice.width) not in voi.LINEAR_FUNCTIONS):
            return None
        slope, intercept = voi.rescale_of(display)
        low, high = self.stored_limits
        if choice is None:
            if self.is_float:
                return None  # no stored range: stretched per frame
            return (low, high) if slope > 0 else (high, low)
        start, end = window_edges(choice.center, choice.width, voi_function(display, choice.width))
        black, white = (start - intercept) / slope, (end - intercept) / slope
        if self.is_float:
            return black, white
        if slope > 0:
            black, white = max(black, low), min(white, high)
            return (black, white) if white > black else None
        black, white = min(black, high), max(white, low)
        return (black, white) if black > white else None


def voi_function(display: Dataset, width: float) -> str:
    """The VOI LUT Function a window of `width` is applied with.

    The frame's function; LINEAR for a width below 1 becomes LINEAR_EXACT
    (LINEAR needs a width of at least 1: pydicom refuses less).
    """
    function = voi.voi_function(display)
    return "LINEAR_EXACT" if function == "LINEAR" and width < 1 else function


def window_edges(center: float, width: float, function: str) -> tuple[float, float]:
    """The modality values where a linear window reaches its darkest and brightest output.

    LINEAR: PS3.3 C.11.2.1.2.1 (centre - 0.5, width - 1); LINEAR_EXACT:
    C.11.2.1.3.2.
    """
    if function == "LINEAR":
        return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    return center - width / 2, center + width / 2


def apply_pipeline(values: np.ndarray, display: Dataset, choice: WindowPreset | None) -> np.ndarray:
    """Modality LUT then VOI `choice` applied to stored `values` by pydicom; float64.

    `choice` is already resolved for this frame (see :class:`GreyPipeline`).
    """
    with warnings.catch_warnings():
        # apply_voi warns about float input; after a rescale the input is
        # float, as in pydicom's own pipeline, and the result the same.
        warnings.simplefilter("ignore")
        output = apply_modality_lut(values, display)
        if choice is None:
            pass
        elif choice.source is not None and choice.source.kind == voi.LUT:
            output = apply_voi(output, display, index=choice.source.index)
        else:
            output = apply_windowing(output, _windowed(display, choice))
    return np.asarray(output, dtype=np.float64)


def _windowed(display: Dataset, choice: WindowPreset) -> Dataset:
    """`display` with one window, `choice`, and no VOI LUT Sequence."""
    windowed = Dataset()
    for element in display:
        if element.keyword not in voi.VOI_KEYWORDS:
            windowed.add(element)
    if hasattr(display, "file_meta"):
        windowed.file_meta = display.file_meta
    windowed.WindowCenter = float(choice.center)
    windowed.WindowWidth = float(choice.width)
    windowed.VOILUTFunction = voi_function(display, choice.width)
    return windowed


def _stretch(outputs: np.ndarray) -> tuple[np.ndarray, float, float]:
    return outputs, float(outputs.min()), float(outputs.max())


def _candidates(display: Dataset, choice: WindowPreset | None, low: int, high: int) -> np.ndarray:
    """Stored values where the pipeline over a range too wide for a table reaches its extremes.

    Both ends, an even grid, and the stored values at each entry of a
    Modality or VOI LUT (exact for rescale with a VOI LUT, and for windows,
    which are monotonic).
    """
    points: list[np.ndarray] = [np.array([low, high], dtype=np.float64), np.linspace(low, high, _TABLE_MAX_VALUES + 1)]
    luts = voi.voi_luts(display)
    if choice is not None and choice.source is not None and choice.source.kind == voi.LUT \
            and choice.source.index < len(luts):
        entries, first, _bits = voi.lut_descriptor(luts[choice.source.index])
        slope, intercept = voi.rescale_of(display)
        points.append((first + np.arange(entries) - intercept) / slope)
    modality = display.get("ModalityLUTSequence")
    if modality:
        entries, first, _bits = voi.lut_descriptor(modality[0])
        points.append(first + np.arange(entries, dtype=np.float64))
    candidates = np.clip(np.rint(np.concatenate(points)), low, high)
    return np.unique(candidates).astype(np.int64)


AUTOMATIC_WINDOW_FRAMES = 16


def document_automatic_window(document, pipeline: GreyPipeline | None = None, progress=None,
                              count: int = AUTOMATIC_WINDOW_FRAMES) -> WindowPreset | None:
    """The viewer's automatic window of a document: the 0.5th to 99.5th percentile of
    modality values on a grid of `count` frames spread over the file.

    Parameters
    ----------
    document : viewer.model.Document
        The open document (its frames are decoded: seconds for a compressed
        file, so the viewer calls this on a worker thread).
    pipeline : GreyPipeline, optional
        The document's pipeline (made here if not given).
    progress : callable, optional
        ``progress(done, total)`` after each frame.
    """
    pipeline = pipeline or GreyPipeline.for_document(document)
    indices = render.sample_indices(document.num_frames, count)

    def frames():
        for done, index in enumerate(indices):
            if progress is not None:
                progress(done, len(indices))
            yield index, render.sample_region(document, index)
        if progress is not None:
            progress(len(indices), len(indices))

    return pipeline.automatic_window(frames())
