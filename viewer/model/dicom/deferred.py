"""Deferred values left in the file: replaced by memory-mapped values, in nested sequences too.

pydicom's parse with ``defer_size`` leaves every binary value above the
threshold unread and records only its offset. :func:`map_deferred_values`
puts a :class:`~viewer.model.dicom.mapped.MappedValue` (a file window) in its
place, after checking that the value lies inside the file: touching a mapping
beyond the end of a file raises SIGBUS.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from viewer.model.dicom import pydicom_adapter
from viewer.model.dicom.mapped import MappedElement, MappedValue
from viewer.model.errors import TruncatedFileError

__all__ = ["BINARY_VRS", "map_deferred_values"]

BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def _vr_for(raw: RawDataElement, bits_allocated: int | None) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        vr = dictionary_VR(raw.tag)
    except KeyError:
        return "UN"
    if "OW" in vr and "OB" in vr:
        return "OW" if (bits_allocated or 8) > 8 else "OB"
    if " or " in vr:
        return "OW" if "OW" in vr else vr.split(" or ")[0]
    return vr


def map_deferred_values(
    path: str,
    dataset: Dataset,
    file_size: int,
    make_mapping: Callable[[int, int], np.ndarray],
    bits_allocated: int | None,
) -> list[MappedElement]:
    """Replace deferred binary values (recursively) by mapped values.

    Parameters
    ----------
    make_mapping : callable
        ``make_mapping(offset, length)`` returns a ``uint8`` mapping.

    Raises
    ------
    TruncatedFileError
        If a deferred value extends past the end of the file.
    """
    mapped: list[MappedElement] = []
    for item in _iter_datasets(dataset):
        for tag, raw in list(pydicom_adapter.raw_items(item)):
            if not isinstance(raw, RawDataElement) or raw.value is not None or not raw.length:
                continue  # read already, or empty
            vr = _vr_for(raw, bits_allocated)
            if vr not in BINARY_VRS:
                continue
            name = keyword_for_tag(raw.tag) or f"({raw.tag.group:04X},{raw.tag.element:04X})"
            if raw.value_tell + raw.length > file_size:
                raise TruncatedFileError(
                    path,
                    f"{name} declares {raw.length} bytes at offset {raw.value_tell} "
                    f"but the file ends after {file_size} bytes",
                )
            value = MappedValue(make_mapping(raw.value_tell, raw.length), raw.value_tell)
            # A buffered value: pydicom shows its repr and never reads it unless asked.
            pydicom_adapter.put_element(item, pydicom_adapter.buffered_element(raw.tag, vr, value))
            mapped.append(MappedElement(int(raw.tag), keyword_for_tag(raw.tag), vr, raw.value_tell, raw.length, value))
    return mapped


def _iter_datasets(dataset: Dataset):
    """Yield `dataset` and every sequence item in it, without reading raw values."""
    yield dataset
    for _tag, element in list(pydicom_adapter.raw_items(dataset)):
        if isinstance(element, DataElement) and element.VR == "SQ":
            items = pydicom_adapter.stored_value(element)
        elif isinstance(element, RawDataElement) and element.VR == "SQ" and element.value is not None:
            items = _read_sequence(dataset, element)
        else:
            continue
        if not isinstance(items, (list, DicomSequence)):  # a lazily parsed sequence is a MappedValue
            continue
        for item in items:
            if isinstance(item, Dataset):
                yield from _iter_datasets(item)


def _read_sequence(dataset: Dataset, raw: RawDataElement):
    """The items of a raw sequence; a sequence pydicom cannot parse is kept as raw ``UN`` bytes.

    A broken sequence (a lying item length, say) should not stop the image
    from being shown, nor raise pydicom's exceptions later when it is browsed.
    """
    try:
        return dataset[raw.tag].value
    except Exception:  # pydicom raises many types for a malformed sequence
        pydicom_adapter.put_element(dataset, pydicom_adapter.unparsed_element(raw.tag, bytes(raw.value or b"")))
        return None
