"""Data elements encoded by hand, for the synthetic writers that stream large sequences.

pydicom builds each header; the Per-frame Functional Groups Sequence of a
file with tens of thousands of frames is encoded here instead, item by item,
and streamed (:mod:`viewer.synthetic.enhanced`, :mod:`viewer.synthetic.slide_dataset`).
"""

from __future__ import annotations

import struct

__all__ = ["ITEM", "ITEM_END", "SEQUENCE_END", "UNDEFINED_LENGTH", "ElementEncoder"]

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_NUL_PADDED = frozenset({b"UI", b"OB", b"UN", b"OW", b"OD", b"OF", b"OL", b"OV"})


class ElementEncoder:
    """Little endian elements, items and sequences, explicit or implicit VR, defined or undefined lengths.

    Parameters
    ----------
    implicit_vr : bool
        Implicit VR (tag and 4-byte length) instead of explicit VR.
    undefined_lengths : bool
        Items and sequences made by :meth:`item` and :meth:`sequence` have
        undefined lengths and end with a delimiter.
    """

    def __init__(self, implicit_vr: bool, undefined_lengths: bool) -> None:
        self.implicit_vr = implicit_vr
        self.undefined_lengths = undefined_lengths

    def element(self, group: int, element: int, vr: bytes, value: bytes) -> bytes:
        """One element; an odd value is padded (NUL for UI and binary VRs, else a space)."""
        if len(value) % 2:
            value += b"\x00" if vr in _NUL_PADDED else b" "
        if self.implicit_vr:
            return struct.pack("<HHI", group, element, len(value)) + value
        return struct.pack("<HH2sH", group, element, vr, len(value)) + value

    def long_header(self, group: int, element: int, vr: bytes, length: int) -> bytes:
        """Header of an element with a 4-byte length (SQ, OW) in either VR encoding."""
        if self.implicit_vr:
            return struct.pack("<HHI", group, element, length)
        return struct.pack("<HH2sHI", group, element, vr, 0, length)

    def sequence_header(self, group: int, element: int, length: int | None) -> bytes:
        """A sequence's header; `length` None for undefined length."""
        return self.long_header(group, element, b"SQ", UNDEFINED_LENGTH if length is None else length)

    @staticmethod
    def delimiter(tag: tuple[int, int]) -> bytes:
        """An item or sequence delimitation item (:data:`ITEM_END`, :data:`SEQUENCE_END`)."""
        return struct.pack("<HHI", *tag, 0)

    def item(self, body: bytes) -> bytes:
        """An item holding the encoded elements `body`."""
        if self.undefined_lengths:
            return struct.pack("<HHI", *ITEM, UNDEFINED_LENGTH) + body + self.delimiter(ITEM_END)
        return struct.pack("<HHI", *ITEM, len(body)) + body

    def sequence(self, group: int, element: int, body: bytes) -> bytes:
        """A sequence of one item holding `body`."""
        item = self.item(body)
        if self.undefined_lengths:
            return self.sequence_header(group, element, None) + item + self.delimiter(SEQUENCE_END)
        return self.sequence_header(group, element, len(item)) + item
