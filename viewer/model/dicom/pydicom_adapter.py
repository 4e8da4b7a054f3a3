"""The few things Cinemap asks of pydicom beyond its everyday API, in one place.

Cinemap leaves large binary values in the file and puts a file-backed,
read-only buffer (:class:`~viewer.model.dicom.mapped.MappedValue`) in the
dataset instead; pydicom 3 supports such *buffered* values for the binary VRs
(``DataElement.is_buffered``). It also walks datasets without converting raw
elements (a deferred or malformed value must not be read or raise while the
header is scanned). Everything here uses pydicom's public API:
``Dataset.get_item(tag, keep_deferred=True)``, ``Dataset.keys()``,
``Dataset.__setitem__`` with a ``DataElement``, ``DataElement.value`` (which
returns the value as held, a buffer included), and
``pydicom.charset.convert_encodings`` -- except :func:`merge_raw`, which must
keep raw elements raw and has no public way to do it (see there).
``tests/test_pydicom_adapter.py`` fails loudly if a pydicom release changes
what these rely on.
"""

from __future__ import annotations

from typing import Any, Iterator

from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

_BUFFERABLE = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def buffered_element(tag: int, vr: str, value: Any, *, undefined_length: bool = False) -> DataElement:
    """A data element whose value is a file-backed buffer, never read by pydicom unless asked.

    The element is built with a bufferable VR, then given `vr` (an ``SQ``
    shown as a mapped ``UN``, say): pydicom would otherwise replace ``UN`` by
    the dictionary's VR for short values and try to parse them.
    """
    element = DataElement(tag, vr if vr in _BUFFERABLE and vr != "UN" else "OB", value,
                          is_undefined_length=undefined_length)
    element.VR = vr
    return element


def unparsed_element(tag: int, data: bytes) -> DataElement:
    """An ``UN`` element holding `data` as bytes (a sequence pydicom could not parse, say).

    pydicom gives a known tag its dictionary VR when an element is made as
    ``UN`` with a short value (and would parse an ``SQ`` again when it is
    read), so the VR is set back to ``UN`` once the element exists.
    """
    element = DataElement(tag, "UN", b"")
    element.VR = "UN"
    element.value = data
    return element


def put_element(dataset: Dataset, element: DataElement) -> None:
    """Add or replace `element` in `dataset` (no conversion of other elements)."""
    dataset[element.tag] = element


def merge_raw(dataset: Dataset, other: Dataset) -> None:
    """Add every element of `other` to `dataset` as it is: raw elements stay raw, deferred values unread.

    The one private use here: ``Dataset.update`` and ``Dataset.__setitem__``
    convert a raw *private* element whose private creator is present (for its
    ``private_creator``), which reads and converts its value -- a deferred large
    value would come back as an empty element instead of being mapped, and a
    malformed one would raise during the header parse. pydicom has no public
    way to insert a raw element unconverted, so the element dictionary is
    updated directly (``tests/test_pydicom_adapter.py`` checks that it is
    still the dict behind ``Dataset.get_item``).
    """
    dataset._dict.update(other._dict)


def raw_element(dataset: Dataset, tag: int) -> DataElement | RawDataElement | None:
    """The element at `tag` as stored (raw if never accessed, deferred values not read), or None."""
    if tag not in dataset:
        return None
    element = dataset.get_item(tag, keep_deferred=True)
    return element if isinstance(element, (DataElement, RawDataElement)) else None


def raw_items(dataset: Dataset) -> Iterator[tuple[BaseTag, DataElement | RawDataElement]]:
    """(tag, element) of `dataset`'s top level, in tag order, without converting raw elements."""
    for tag in sorted(dataset.keys()):
        element = dataset.get_item(tag, keep_deferred=True)
        if isinstance(element, (DataElement, RawDataElement)):
            yield Tag(tag), element


def stored_value(element: DataElement | RawDataElement) -> Any:
    """An element's value as held (a buffered value stays a buffer; raw bytes stay bytes)."""
    return element.value


def character_set(dataset: Dataset) -> list[str]:
    """The Python codecs of the dataset's Specific Character Set (default repertoire if absent)."""
    value = dataset.get("SpecificCharacterSet") if "SpecificCharacterSet" in dataset else None
    return convert_encodings(value or "ISO_IR 6")
