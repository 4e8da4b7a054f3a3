"""Describe dataset elements for display without reading large values.

Used by the GUI's tag browser and by the fuzz harness (so the fuzzer checks
exactly what a user sees). Memory-mapped values are described ("memory-mapped,
3.9 GB at offset N") and never read; values pydicom deferred are described by
size and offset; a malformed value is shown as unreadable instead of raising.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.datadict import dictionary_description, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from viewer.model.dicom import pydicom_adapter
from viewer.model.dicom.mapped import MappedValue

_MAX_VALUE_CHARS = 200


def tag_text(tag: int) -> str:
    """"(GGGG,EEEE)" of `tag`."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def element_name(tag: int) -> str:
    """The dictionary name of `tag`, "Private tag" or "Unknown"."""
    if Tag(tag).is_private:
        return "Private tag"
    try:
        return dictionary_description(tag)
    except KeyError:
        return "Unknown"


def describe_value(dataset: Dataset, tag: int) -> tuple[str, str, list[Dataset] | None]:
    """(VR, value text, sequence items or None) of element `tag`, reading no large value.

    A malformed value (pydicom raises while converting it) is shown as such
    instead of breaking the whole tree.
    """
    try:
        return _describe_value(dataset, tag)
    except Exception as exc:  # pydicom raises many types for malformed values
        raw = pydicom_adapter.raw_element(dataset, tag)
        return str(getattr(raw, "VR", "") or ""), f"unreadable value ({type(exc).__name__}: {exc})", None


def _describe_value(dataset: Dataset, tag: int) -> tuple[str, str, list[Dataset] | None]:
    raw = pydicom_adapter.raw_element(dataset, tag)
    if raw is None:
        raise KeyError(tag_text(tag))
    if isinstance(raw, RawDataElement):
        if raw.value is None and raw.length:
            return str(raw.VR or ""), f"deferred, {raw.length} bytes at offset {raw.value_tell} (not read)", None
    element = raw if isinstance(raw, DataElement) else dataset[tag]
    value = pydicom_adapter.stored_value(element) if isinstance(element, DataElement) else None
    if isinstance(value, MappedValue):
        return element.VR, repr(value), None
    if element.VR == "SQ":
        items = list(element.value or [])
        return "SQ", f"{len(items)} item{'s' if len(items) != 1 else ''}", items
    text = element.repval if not element.is_buffered else "buffered value (not read)"
    if len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS] + "…"
    return str(element.VR), text, None


def matches(tag: int, needle: str) -> bool:
    """True if `needle` (lower case) is in the keyword, name or tag of `tag`."""
    if not needle:
        return True
    compact = f"{tag:08x}"
    wanted = needle.replace("(", "").replace(")", "").replace(",", "").replace(" ", "")
    if wanted and wanted in compact:
        return True
    return needle in (keyword_for_tag(tag) or "").lower() or needle in element_name(tag).lower()
