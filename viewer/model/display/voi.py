"""A frame's grey transforms as one small Dataset, and the file's VOIs as presets.

pydicom's :mod:`pydicom.pixels.processing` functions read top-level
attributes only, but enhanced files keep rescale and windows in functional
groups: Pixel Value Transformation (0028,9145) and Frame VOI LUT (0028,9132),
shared by all frames or per frame. :func:`frame_display_dataset` builds for
one frame a Dataset holding the Image Pixel values those functions need and
the frame's Modality LUT, VOI LUT and Presentation LUT Shape attributes: the
top level first, then the Shared Functional Groups item, then the frame's own
item. A group that carries a transform replaces that transform's attributes
as a whole, as a functional group replaces the module it stands for
(PS3.3 C.7.6.16).

The file's VOIs are listed LUTs first, then windows: pydicom's
:func:`~pydicom.pixels.processing.apply_voi_lut` prefers the VOI LUT where a
file has both, so the first listed is the file's default.
"""

from __future__ import annotations

from typing import Callable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from viewer.model.dicom.geometry import PixelGeometry
from viewer.model.display.metadata import VoiRef, WindowPreset, floats

LUT = "lut"
WINDOW = "window"

MODALITY_KEYWORDS = ("RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence")
VOI_KEYWORDS = ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction", "VOILUTSequence")
_TOP_LEVEL_ONLY = ("PresentationLUTShape",)
_GROUPS = (("PixelValueTransformationSequence", MODALITY_KEYWORDS), ("FrameVOILUTSequence", VOI_KEYWORDS))
LINEAR_FUNCTIONS = ("LINEAR", "LINEAR_EXACT")

PerFrameLookup = Callable[[int], "Dataset | None"]


def frame_display_dataset(
    dataset: Dataset, geometry: PixelGeometry | None, index: int = 0, per_frame: PerFrameLookup | None = None
) -> Dataset:
    """The Dataset pydicom's LUT functions need to show frame `index`.

    Parameters
    ----------
    dataset : pydicom.dataset.Dataset
        The file's dataset (its Per-frame Functional Groups may be absent,
        when parsed lazily: then `per_frame` gives them).
    geometry : PixelGeometry or None
        The checked Image Pixel values (Bits Stored, Pixel Representation...);
        None for a file without pixels (then only the transforms are copied).
    index : int
        The frame.
    per_frame : callable, optional
        ``per_frame(index)`` returns the frame's Per-frame Functional Groups
        item or None (:meth:`viewer.model.Document.per_frame_groups`).

    Returns
    -------
    pydicom.dataset.Dataset
        A new Dataset sharing the file's element objects (do not modify
        their values).
    """
    display = Dataset()
    if geometry is not None:
        display.PhotometricInterpretation = geometry.photometric_interpretation
        display.BitsAllocated = geometry.bits_allocated
        display.BitsStored = geometry.bits_stored
        display.PixelRepresentation = geometry.pixel_representation
    _copy_encoding(dataset, display)
    for keyword in MODALITY_KEYWORDS + VOI_KEYWORDS + _TOP_LEVEL_ONLY:
        _copy(dataset, display, keyword)
    for item in _group_items(dataset, index, per_frame):
        for sequence_keyword, keywords in _GROUPS:
            sequence = _get(item, sequence_keyword)
            if not isinstance(sequence, DicomSequence) or not sequence:
                continue
            for keyword in keywords:
                if keyword in display:
                    del display[keyword]
                _copy(sequence[0], display, keyword)
    _normalise_rescale(display)
    return display


def _get(source: Dataset, keyword: str):
    try:
        return source.get(keyword)
    except Exception:  # a malformed value: treated as absent, never a crash
        return None


def _copy(source: Dataset, target: Dataset, keyword: str) -> None:
    try:
        if keyword in source and source[keyword].value not in (None, ""):
            target[keyword] = source[keyword]
    except Exception:
        pass


def _copy_encoding(source: Dataset, target: Dataset) -> None:
    """LUT Data stored as OW is read with the file's byte order (pydicom looks here)."""
    meta = getattr(source, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        target.file_meta = meta
        return
    implicit, little_endian = source.original_encoding
    target.set_original_encoding(implicit, True if little_endian is None else little_endian, None)


def _group_items(dataset: Dataset, index: int, per_frame: PerFrameLookup | None) -> list[Dataset]:
    """The Shared then the Per-frame Functional Groups item of frame `index` (those present)."""
    items = []
    shared = _get(dataset, "SharedFunctionalGroupsSequence")
    if isinstance(shared, DicomSequence) and shared:
        items.append(shared[0])
    item = None
    if per_frame is not None:
        item = per_frame(index)
    else:
        groups = _get(dataset, "PerFrameFunctionalGroupsSequence")
        if isinstance(groups, DicomSequence) and 0 <= index < len(groups):
            item = groups[index]
    if item is not None:
        items.append(item)
    return items


def _normalise_rescale(display: Dataset) -> None:
    """Both Rescale Slope and Intercept as numbers, or neither.

    A slope of 0 (or one that cannot be read) is taken as 1, a missing
    intercept as 0, as the status bar's readout always has (a zero slope
    would make every pixel the same).
    """
    slopes = floats(_get(display, "RescaleSlope"))
    intercepts = floats(_get(display, "RescaleIntercept"))
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        if keyword in display:
            del display[keyword]
    if not slopes and not intercepts:
        return
    display.RescaleSlope = slopes[0] if slopes and slopes[0] != 0 else 1.0
    display.RescaleIntercept = intercepts[0] if intercepts else 0.0


def rescale_of(display: Dataset) -> tuple[float, float]:
    """(slope, intercept) of a :func:`frame_display_dataset` result; (1, 0) without rescale."""
    if "RescaleSlope" not in display:
        return 1.0, 0.0
    return float(display.RescaleSlope), float(display.RescaleIntercept)


def rescale_unit(display: Dataset, modality: str = "") -> str:
    """Unit of modality values: Rescale Type ("US" means unspecified), or HU for CT."""
    unit = str(_get(display, "RescaleType") or "").strip()
    if unit and unit.upper() != "US":
        return unit
    if modality.strip().upper() == "CT" and "RescaleIntercept" in display:
        return "HU"
    return ""


def has_modality_lut(display: Dataset) -> bool:
    return bool(_get(display, "ModalityLUTSequence"))


def voi_function(display: Dataset) -> str:
    """VOI LUT Function (LINEAR where absent or unreadable)."""
    value = str(_get(display, "VOILUTFunction") or "LINEAR").strip().upper()
    return value if value in LINEAR_FUNCTIONS + ("SIGMOID",) else "LINEAR"


def voi_luts(display: Dataset) -> list[Dataset]:
    """The usable VOI LUT Sequence items (LUT Descriptor and LUT Data present)."""
    sequence = _get(display, "VOILUTSequence")
    if not isinstance(sequence, DicomSequence):
        return []
    usable = []
    for item in sequence:
        descriptor = _get(item, "LUTDescriptor")
        if descriptor is not None and _get(item, "LUTData") is not None and len(descriptor) == 3:
            usable.append(item)
    return usable


def lut_descriptor(item: Dataset) -> tuple[int, int, int]:
    """(entries, first value mapped, bits) of a LUT item; 0 entries means 65,536."""
    entries, first, bits = (int(value) for value in item.LUTDescriptor)
    return entries or 1 << 16, first, bits


def windows(display: Dataset) -> list[tuple[float, float, str]]:
    """The (centre, width, explanation) windows of a display dataset, in file order.

    Windows of width 0 or less are left out (the functions cannot apply
    them); one of width below 1 is kept (LINEAR then applies it exactly).
    """
    centers = floats(_get(display, "WindowCenter"))
    widths = floats(_get(display, "WindowWidth"))
    names_value = _get(display, "WindowCenterWidthExplanation") or []
    names = [str(name) for name in names_value] if not isinstance(names_value, str) else [names_value]
    found = []
    for position, (center, width) in enumerate(zip(centers, widths)):
        name = names[position] if position < len(names) and names[position] else f"File window {position + 1}"
        found.append((center, width, name))
    return found


def file_presets(display: Dataset) -> list[WindowPreset]:
    """Every VOI the file gives for this frame, as presets: VOI LUTs first, then windows.

    A LUT's centre and width are those of the linear window spanning the
    LUT's input values (shown in the centre/width boxes, and where a
    right-button drag starts from).
    """
    presets = []
    for position, item in enumerate(voi_luts(display)):
        try:
            entries, first, _bits = lut_descriptor(item)
        except (TypeError, ValueError):
            continue
        name = str(_get(item, "LUTExplanation") or "").strip() or f"File VOI LUT {position + 1}"
        presets.append(WindowPreset(first + entries / 2, float(entries), name, VoiRef(LUT, position)))
    for position, (center, width, name) in enumerate(windows(display)):
        if width > 0:
            presets.append(WindowPreset(center, width, name, VoiRef(WINDOW, position)))
    return presets


def resolve(display: Dataset, source: VoiRef) -> WindowPreset | None:
    """The preset `source` names in this frame's display dataset, or None if it has no such VOI."""
    for preset in file_presets(display):
        if preset.source == source:
            return preset
    return None


def group_key(display: Dataset) -> tuple:
    """A hashable summary of a display dataset: frames with equal keys display alike."""
    key = []
    for element in display:
        key.append((element.keyword, _value_key(element.value)))
    return tuple(key)


def _value_key(value) -> object:
    if isinstance(value, DicomSequence):
        return tuple(tuple((element.keyword, _value_key(element.value)) for element in item) for item in value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hash(bytes(value))
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return tuple(_value_key(v) for v in value)
    return str(value)
