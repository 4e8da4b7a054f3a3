"""Locate the frames of encapsulated (compressed) pixel data without reading it.

The encapsulated value is a sequence of items: the Basic Offset Table, then
fragments, then a sequence delimiter. :func:`scan_items` walks the 8-byte item
headers through the mapping (a few bytes per fragment, never the fragment
data) and checks every length against the file. :func:`index_frames` then
groups fragments into frames with the same rules as
``pydicom.encaps.get_frame`` (Extended Offset Table, Basic Offset Table, one
fragment per frame, one frame, or JPEG EOI markers), so that a frame decoded
here equals pydicom's.

A frame is kept as the byte range of its items in the mapping; decoding
copies just those bytes and hands them to pydicom's decoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from viewer.model.errors import DicomError, TruncatedFileError

ITEM_TAG = b"\xfe\xff\x00\xe0"
DELIMITER_TAG = b"\xfe\xff\xdd\xe0"
EMPTY_BOT = ITEM_TAG + b"\x00\x00\x00\x00"


@dataclass
class EncapsulatedLayout:
    """Items found in an encapsulated value (offsets relative to the value start).

    Attributes
    ----------
    basic_offsets : list of int
        The Basic Offset Table's entries (empty if the table is empty).
    fragments : list of (int, int)
        (item header offset, fragment length) of every fragment.
    end : int
        Offset just past the sequence delimiter (or the last complete item).
    complete : bool
        False if the value is cut short by the end of the file.
    """

    basic_offsets: list[int] = field(default_factory=list)
    fragments: list[tuple[int, int]] = field(default_factory=list)
    end: int = 0
    complete: bool = True

    @property
    def first_fragment(self) -> int:
        """Offset of the first fragment's item header (just after the table)."""
        return self.fragments[0][0] if self.fragments else self.end


def scan_items(path: str, data: np.ndarray, little_endian: bool = True) -> EncapsulatedLayout:
    """Walk the item headers of an encapsulated value.

    Parameters
    ----------
    data : numpy.ndarray
        ``uint8`` mapping from the value's first byte to the end of the file.

    Raises
    ------
    DicomError
        If the value does not start with the Basic Offset Table item, or an
        item tag is wrong.
    """
    order = "<" if little_endian else ">"
    available = int(data.shape[0])
    if available < 8:
        raise TruncatedFileError(path, "the file ends inside the encapsulated Pixel Data")
    header = data[:8].tobytes()
    if header[:4] != _tag_bytes(ITEM_TAG, little_endian):
        raise DicomError(path, "encapsulated Pixel Data does not start with a Basic Offset Table item")
    (bot_length,) = struct.unpack(order + "I", header[4:8])
    if bot_length % 4 or 8 + bot_length > available:
        raise DicomError(path, f"the Basic Offset Table declares {bot_length} bytes, which the file cannot hold")
    offsets = list(struct.unpack(f"{order}{bot_length // 4}I", data[8 : 8 + bot_length].tobytes()))
    layout = EncapsulatedLayout(basic_offsets=offsets)
    position = 8 + bot_length
    item_tag = _tag_bytes(ITEM_TAG, little_endian)
    delimiter = _tag_bytes(DELIMITER_TAG, little_endian)
    while True:
        if position + 8 > available:
            layout.complete = False
            break
        header = data[position : position + 8].tobytes()
        if header[:4] == delimiter:
            position += 8
            break
        if header[:4] != item_tag:
            raise DicomError(
                path,
                f"expected a fragment item at byte {position} of the encapsulated Pixel Data, found {header[:4].hex()}",
            )
        (length,) = struct.unpack(order + "I", header[4:8])
        if position + 8 + length > available:
            layout.complete = False
            break
        layout.fragments.append((position, length))
        position += 8 + length
    layout.end = position
    return layout


def _tag_bytes(little_endian_tag: bytes, little_endian: bool) -> bytes:
    if little_endian:
        return little_endian_tag
    group, element = struct.unpack("<HH", little_endian_tag)
    return struct.pack(">HH", group, element)


@dataclass(frozen=True)
class FrameSpan:
    """Where one compressed frame lies, relative to the value start.

    Either a run of whole items (``start`` at the first item header, ``stop``
    after the last fragment), or, for Extended Offset Table frames, the raw
    frame bytes (``raw`` True).
    """

    start: int
    stop: int
    raw: bool = False


def index_frames(
    path: str,
    data: np.ndarray,
    layout: EncapsulatedLayout,
    number_of_frames: int,
    extended: tuple[list[int], list[int]] | None = None,
) -> list[FrameSpan]:
    """Group fragments into frames, following pydicom's ``get_frame`` rules."""
    fragments = layout.fragments
    if extended is not None:
        return _index_extended(path, layout, *extended)
    if layout.basic_offsets:
        return _index_basic(path, layout)
    if not fragments:
        return []
    if len(fragments) == 1:
        return [_span(fragments[0], fragments[0])]
    if len(fragments) == number_of_frames:
        return [_span(fragment, fragment) for fragment in fragments]
    if number_of_frames <= 1:
        return [_span(fragments[0], fragments[-1])]
    return _index_by_eoi(data, fragments)


def _span(first: tuple[int, int], last: tuple[int, int]) -> FrameSpan:
    return FrameSpan(first[0], last[0] + 8 + last[1])


def _index_extended(path: str, layout: EncapsulatedLayout, offsets: list[int], lengths: list[int]) -> list[FrameSpan]:
    if len(offsets) != len(lengths):
        raise DicomError(path, "the Extended Offset Table and its lengths have different sizes")
    base = layout.first_fragment
    spans = []
    for offset, length in zip(offsets, lengths):
        start = base + offset + 8
        if length == 0 or start + length > layout.end:
            break  # an empty frame, or one past the data that is there
        spans.append(FrameSpan(start, start + length, raw=True))
    return spans


def _index_basic(path: str, layout: EncapsulatedLayout) -> list[FrameSpan]:
    base = layout.first_fragment
    starts = {offset: i for i, (offset, _) in enumerate(layout.fragments)}
    spans = []
    bounds = layout.basic_offsets + [None]
    for begin, end in zip(bounds[:-1], bounds[1:]):
        first = starts.get(base + begin)
        if first is None:
            break  # points past the data that is there, or not at an item
        if end is None:
            last = len(layout.fragments) - 1
        else:
            stop = starts.get(base + end)
            if stop is None:
                last = max(i for i, (offset, _) in enumerate(layout.fragments) if offset < base + end)
            else:
                last = stop - 1
        if last < first:
            raise DicomError(path, "the Basic Offset Table is not in increasing order")
        spans.append(_span(layout.fragments[first], layout.fragments[last]))
    return spans


def _index_by_eoi(data: np.ndarray, fragments: list[tuple[int, int]]) -> list[FrameSpan]:
    spans = []
    first = 0
    for i, (offset, length) in enumerate(fragments):
        end = offset + 8 + length
        tail = data[max(offset + 8, end - 10) : end].tobytes()
        if b"\xff\xd9" in tail:
            spans.append(_span(fragments[first], fragments[i]))
            first = i + 1
    if first < len(fragments):
        spans.append(_span(fragments[first], fragments[-1]))
    return spans


def frame_bytes(data: np.ndarray, span: FrameSpan) -> bytes:
    """Encapsulated bytes of one frame: an empty offset table then its items."""
    chunk = data[span.start : span.stop].tobytes()
    if span.raw:
        padded = chunk + b"\x00" * (len(chunk) % 2)
        return EMPTY_BOT + ITEM_TAG + struct.pack("<I", len(padded)) + padded
    return EMPTY_BOT + chunk
