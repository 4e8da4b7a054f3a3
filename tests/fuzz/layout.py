"""Where the elements of a DICOM file are, byte for byte.

A deliberately independent, forgiving walker (not pydicom): it records the
top-level elements of the file meta and the dataset, and the items of
encapsulated pixel data, and stops quietly at the first thing it cannot
follow. The mutators use it to patch values and lengths in place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from pydicom.datadict import dictionary_VR

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
VALID_VRS = LONG_VRS | {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
}
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
_MAX_DEPTH = 16


@dataclass(frozen=True)
class Element:
    """One element's position.

    ``length`` is None for an undefined length; ``length_offset`` and
    ``length_size`` locate the length field so it can be rewritten.
    """

    tag: int
    vr: bytes | None
    header_offset: int
    length_offset: int
    length_size: int
    value_offset: int
    length: int | None
    end: int
    little_endian: bool
    implicit: bool

    @property
    def group(self) -> int:
        return self.tag >> 16


@dataclass
class Layout:
    """What :func:`parse_layout` found in one file."""

    size: int
    dataset_offset: int = 0
    transfer_syntax: str = ""
    little_endian: bool = True
    implicit: bool = False
    meta: list[Element] = field(default_factory=list)
    elements: list[Element] = field(default_factory=list)
    pixel: Element | None = None
    items: list[Element] = field(default_factory=list)  # encapsulated items, offset table first
    nested: list[Element] = field(default_factory=list)  # sequence items and the elements inside them

    def find(self, tag: int) -> Element | None:
        for element in self.meta + self.elements:
            if element.tag == tag:
                return element
        return None

    @property
    def header_end(self) -> int:
        """Offset of the pixel data element, or the end of the last element walked."""
        if self.pixel is not None:
            return self.pixel.header_offset
        return self.elements[-1].end if self.elements else self.dataset_offset


class _Stop(Exception):
    """The walker cannot follow the bytes any further."""


def parse_layout(data: bytes) -> Layout:
    """Walk `data`; whatever could not be followed is simply left out."""
    layout = Layout(size=len(data))
    position = 132 if data[128:132] == b"DICM" else 0
    try:
        position = _walk_meta(data, position, layout)
    except _Stop:
        return layout
    layout.dataset_offset = position
    syntax = layout.transfer_syntax
    if syntax == DEFLATED:
        return layout
    # Like pydicom, trust the first element's bytes over the declared syntax.
    layout.implicit = data[position + 4 : position + 6] not in VALID_VRS
    if syntax:
        layout.little_endian = syntax != EXPLICIT_BE
    elif position + 2 <= len(data):
        layout.little_endian = data[position] >= data[position + 1]  # group 0x0008 reads small
    try:
        _walk_dataset(data, position, len(data), layout, top=True, depth=0)
    except _Stop:
        pass
    return layout


def _walk_meta(data: bytes, position: int, layout: Layout) -> int:
    while position + 8 <= len(data):
        (group,) = struct.unpack("<H", data[position : position + 2])
        if group != 0x0002:
            break
        element = _read_element(data, position, little_endian=True, implicit=False)
        if element.length is None or element.end > len(data):
            raise _Stop
        layout.meta.append(element)
        if element.tag == 0x00020010:
            layout.transfer_syntax = data[element.value_offset : element.end].rstrip(b"\x00 ").decode("ascii", "replace")
        position = element.end
    return position


def _read_element(data: bytes, position: int, little_endian: bool, implicit: bool) -> Element:
    order = "<" if little_endian else ">"
    if position + 8 > len(data):
        raise _Stop
    group, number = struct.unpack(order + "HH", data[position : position + 4])
    tag = (group << 16) | number
    vr: bytes | None = None
    if implicit or group == 0xFFFE:
        length_offset, length_size = position + 4, 4
    else:
        vr = data[position + 4 : position + 6]
        if vr in LONG_VRS:
            length_offset, length_size = position + 8, 4
        else:
            length_offset, length_size = position + 6, 2
    if length_offset + length_size > len(data):
        raise _Stop
    fmt = order + ("I" if length_size == 4 else "H")
    (length,) = struct.unpack(fmt, data[length_offset : length_offset + length_size])
    value_offset = length_offset + length_size
    if length_size == 4 and length == UNDEFINED:
        return Element(tag, vr, position, length_offset, length_size, value_offset, None, value_offset,
                       little_endian, implicit)
    return Element(tag, vr, position, length_offset, length_size, value_offset, length, value_offset + length,
                   little_endian, implicit)


def _walk_dataset(data: bytes, position: int, stop: int, layout: Layout, top: bool, depth: int) -> int:
    """Walk elements from `position` up to `stop` (or an item delimiter); return the end."""
    if depth > _MAX_DEPTH:
        raise _Stop
    while position < stop:
        element = _read_element(data, position, layout.little_endian, layout.implicit)
        if element.tag == ITEM_END:
            return element.value_offset
        if top and element.tag in PIXEL_TAGS:
            layout.pixel = element
            layout.elements.append(element)
            if element.length is None:
                _walk_items(data, element.value_offset, layout)
            return element.end
        if element.length is None:
            end = _walk_sequence(data, element.value_offset, layout, depth + 1)
            element = replace(element, end=end)
        elif element.end > stop:
            raise _Stop
        elif _is_sequence(element):
            try:
                _walk_defined_sequence(data, element, layout, depth + 1)
            except _Stop:
                pass  # its length says where the next element is
        (layout.elements if top else layout.nested).append(element)
        position = element.end
    return position


def _is_sequence(element: Element) -> bool:
    if element.vr is not None:
        return element.vr == b"SQ"
    try:
        return dictionary_VR(element.tag) == "SQ"
    except KeyError:
        return False


def _walk_defined_sequence(data: bytes, sequence: Element, layout: Layout, depth: int) -> None:
    position = sequence.value_offset
    while position < sequence.end:
        item = _read_element(data, position, layout.little_endian, implicit=True)
        if item.tag != ITEM:
            raise _Stop
        layout.nested.append(item)
        if item.length is None:
            position = _walk_dataset(data, item.value_offset, sequence.end, layout, top=False, depth=depth)
        else:
            _walk_dataset(data, item.value_offset, item.end, layout, top=False, depth=depth)
            position = item.end


def _walk_sequence(data: bytes, position: int, layout: Layout, depth: int) -> int:
    """Skip an undefined-length sequence; return the offset after its delimiter."""
    while True:
        item = _read_element(data, position, layout.little_endian, implicit=True)
        if item.tag == SEQUENCE_END:
            return item.value_offset
        if item.tag != ITEM:
            raise _Stop
        layout.nested.append(item)
        if item.length is None:
            position = _walk_dataset(data, item.value_offset, len(data), layout, top=False, depth=depth)
        else:
            _walk_dataset(data, item.value_offset, item.end, layout, top=False, depth=depth)
            position = item.end


def _walk_items(data: bytes, position: int, layout: Layout) -> None:
    while True:
        item = _read_element(data, position, layout.little_endian, implicit=True)
        if item.tag == SEQUENCE_END:
            return
        if item.tag != ITEM or item.length is None or item.end > len(data):
            raise _Stop
        layout.items.append(item)
        position = item.end
