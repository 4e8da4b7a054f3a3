"""A compressed frame's bytes: its items as pydicom's decoders take them, or its bare codestream.

Shared by :mod:`~viewer.model.codecs.decoder` and :mod:`~viewer.model.codecs.reduced`.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["as_encapsulated", "codestream"]

_ITEM_TAG = b"\xfe\xff\x00\xe0"
_EMPTY_BOT = _ITEM_TAG + b"\x00\x00\x00\x00"



def as_encapsulated(data: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    """One frame as pydicom's decoders take it: an offset table item, then the frame's items.

    `data` is either that already (what
    :meth:`viewer.model.dicom.frame_index.FrameIndex.frame_bytes` returns) or a bare
    codestream (JPEG ``FFD8...``, JPEG 2000 ``FF4F...``, RLE header), which
    is wrapped in one item.
    """
    if isinstance(data, np.ndarray):
        data = data.tobytes()
    data = bytes(data)
    if data[:4] == _ITEM_TAG:
        return data
    padded = data + b"\x00" * (len(data) % 2)
    return _EMPTY_BOT + _ITEM_TAG + struct.pack("<I", len(padded)) + padded


def codestream(data: bytes) -> bytes:
    """The frame's codestream: its items' values joined (the inverse of :func:`as_encapsulated`)."""
    if data[:4] != _ITEM_TAG:
        return data
    parts, position = [], 0
    first = True
    while position + 8 <= len(data) and data[position:position + 4] == _ITEM_TAG:
        (length,) = struct.unpack_from("<I", data, position + 4)
        if not first:
            parts.append(data[position + 8:position + 8 + length])
        first = False
        position += 8 + length
    return b"".join(parts)
