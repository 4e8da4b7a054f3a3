"""Byte-level facts of the DICOM encoding, and the file meta walked with ``struct``.

Shared by the header parse (:mod:`viewer.model.dicom.header`) and the fast
path for plain files (:mod:`viewer.model.dicom.quickscan`), which both read
element headers themselves. :func:`scan_meta` finds the transfer syntax and
where the dataset starts without pydicom (whose file meta reader,
``filereader._read_file_meta_info``, is private).
"""

from __future__ import annotations

import struct

__all__ = [
    "EXPLICIT_LONG_VRS",
    "HEADER_BYTES",
    "PREAMBLE_BYTES",
    "UNDEFINED_LENGTH",
    "VALID_VRS",
    "scan_meta",
]

UNDEFINED_LENGTH = 0xFFFFFFFF
PREAMBLE_BYTES = 132
"""The 128-byte preamble and ``DICM``: where the file meta starts in a file that has them."""
EXPLICIT_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
"""Explicit VRs whose element header has two reserved bytes and a 4-byte length (12 bytes in all)."""
VALID_VRS = frozenset({
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
    b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
    b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
})
HEADER_BYTES = {vr: 12 if vr in EXPLICIT_LONG_VRS else 8 for vr in VALID_VRS}
"""Explicit VR element header length by VR (4-byte lengths follow two reserved bytes)."""

unpack_explicit = struct.Struct("<HH2sH").unpack_from
unpack_implicit = struct.Struct("<HHI").unpack_from
unpack_short = struct.Struct("<H").unpack_from
unpack_long = struct.Struct("<I").unpack_from


def scan_meta(head: bytes, start: int = PREAMBLE_BYTES) -> tuple[int, str | None]:
    """Walk the file meta (group 0002, explicit VR little endian) from `start`.

    Returns
    -------
    position : int
        Offset of the first element after group 0002 (the dataset), or where
        the walk stopped.
    transfer_syntax : str or None
        The Transfer Syntax UID (trailing padding removed), or None if the
        walk stopped before the end of the group (malformed, undefined length,
        or `head` too short) or found none.
    """
    position = start
    syntax = None
    end = len(head)
    while position + 8 <= end:
        group, number, vr_bytes, length = unpack_explicit(head, position)
        if group != 0x0002:
            return position, syntax
        size = HEADER_BYTES.get(vr_bytes)
        if size is None or position + size > end:
            return position, None
        if size == 12:
            (length,) = unpack_long(head, position + 8)
        if length == UNDEFINED_LENGTH:
            return position, None
        value = position + size
        if number == 0x0010:
            syntax = head[value : value + length].rstrip(b"\x00 ").decode("ascii", "replace")
        position = value + length
    return position, None
