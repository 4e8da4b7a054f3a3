"""The fast path for opening: find the pixel data of a plain file without pydicom's parse.

pydicom's header parse costs about 0.5 ms for a typical cine header: it
builds a Python object per element, reads the file meta twice through our
checks, and converts values on the way. Opening a file and copying one frame
out of a bare ``numpy.memmap`` costs about 0.05 ms. Most files Cinemap is
for (cine loops, native multi-frame CT and MR, our own synthetic files) are
*plain*: a preamble, an explicit VR little endian file meta, a little endian
dataset of defined-length elements, then native Pixel Data running to the
end of the file.

:func:`scan` walks such a header with ``struct`` -- tag, VR and length of
each element, skipping values -- and decodes only the Image Pixel module
values the geometry needs (Rows, Bits Allocated, ...), accepting only
well-formed ones (``US`` of one value, ``IS`` digits, ``CS`` letters), so that
pydicom would read the same numbers. The document checks the geometry from
those, maps the frames, and parses the whole header with
pydicom only when :attr:`~viewer.model.Document.dataset` is first used (the
tag browser, window presets, rescale, editing). Anything not plain returns
None and takes the full path: big endian or compressed syntaxes, undefined
lengths, Per-frame Functional Groups, a value large enough to be mapped, a
VR that does not match the transfer syntax or the element, an Image
Pixel value that is not plainly well-formed, zeroed bytes, a header longer
than the bytes given, elements after the pixel data, or a truncated file.
So the fast path never has to repeat the full path's diagnostics: it
accepts only files on which the full parse finds the same Pixel Data at the
same offset (a test checks that against every real file in the test data).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from viewer.model.dicom.encoding import (
    HEADER_BYTES,
    UNDEFINED_LENGTH,
    VALID_VRS,
    scan_meta,
    unpack_explicit,
    unpack_implicit,
    unpack_long,
    unpack_short,
)
from viewer.model.dicom.functional_groups import PER_FRAME_TAG
from viewer.model.dicom.header import IMAGE_PIXEL_TAGS, PIXEL_TAGS, PixelElement

HEAD_BYTES = 16 << 10
"""Bytes read from the start of the file for the scan; longer headers take the full path."""
_PLAIN_SYNTAXES = {str(uid): uid for uid in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)}
IMAGE_PIXEL = {tag: (keyword_for_tag(tag), dictionary_VR(tag).encode()) for tag in IMAGE_PIXEL_TAGS}
"""The Image Pixel elements the geometry is read from: keyword and the only VR accepted (US, CS or IS)."""
_INTEGER_STRING = re.compile(rb" *[+-]?[0-9]{1,11} *")
_CODE_STRING = re.compile(rb" *[A-Z0-9_]{1,16} *")
_IMPLIED_PIXEL_VR = {0x7FE00008: "OF", 0x7FE00009: "OD"}
_PIXEL_VRS = {0x7FE00010: ("OB", "OW"), 0x7FE00008: ("OF",), 0x7FE00009: ("OD",)}


class QuickHeader(NamedTuple):
    """What :func:`scan` found.

    Attributes
    ----------
    transfer_syntax : UID
        Explicit or Implicit VR Little Endian.
    image : dict
        Keyword to value (int or str) of the :data:`IMAGE_PIXEL` elements
        present, as pydicom would read them; ``read_geometry`` takes it.
    pixel : PixelElement
        The Pixel Data (or Float / Double Float Pixel Data) element.
    """

    transfer_syntax: UID
    image: dict[str, int | str]
    pixel: PixelElement


def scan(head: bytes, file_size: int, memmap_threshold: int) -> QuickHeader | None:
    """The plain file's pixel data and Image Pixel elements, or None if the file is not plain.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (:data:`HEAD_BYTES` is enough for most headers).
    file_size : int
        The file's size: the pixel data must end exactly there.
    memmap_threshold : int
        A value longer than this would be memory-mapped: the full path does that.
    """
    if len(head) < 144 or head[128:132] != b"DICM":
        return None
    position, name = scan_meta(head)
    syntax = _PLAIN_SYNTAXES.get(name) if name is not None else None
    if syntax is None:
        return None
    implicit = syntax.is_implicit_VR
    end = len(head)
    if position + 8 > end or (head[position + 4 : position + 6] in VALID_VRS) == implicit:
        return None  # pydicom would switch VR encoding (and warn): the full path
    image: dict[str, int | str] = {}
    limit = min(memmap_threshold, UNDEFINED_LENGTH - 1)
    unpack = unpack_implicit if implicit else unpack_explicit
    header_sizes = HEADER_BYTES
    while position + 8 <= end:
        # The loop runs once per element: the common case (a short element
        # before group 0028) costs one unpack, one lookup and two tests.
        if implicit:
            group, number, length = unpack(head, position)
            vr_bytes = None
            size = 8
        else:
            group, number, vr_bytes, length = unpack(head, position)
            size = header_sizes.get(vr_bytes, 0)  # 0: not a VR
            if size != 8:
                if size == 0 or position + 12 > end:
                    return None  # not a VR: pydicom would guess
                (length,) = unpack_long(head, position + 8)
        if group >= 0x0028 or group < 0x0008 or length > limit:
            tag = (group << 16) | number
            if tag in PIXEL_TAGS:
                return _pixel(head, position, tag, implicit, file_size, syntax, image)
            if group < 0x0008 or length > limit or tag == PER_FRAME_TAG:
                return None  # zeroed bytes, the file meta again, a sequence, a value to map: the full path
            wanted = IMAGE_PIXEL.get(tag)
            if wanted is not None:
                keyword, expected_vr = wanted
                if vr_bytes is not None and vr_bytes != expected_vr:
                    return None
                if expected_vr == b"US" and length == 2 and position + size + 2 <= end:  # most of them
                    image[keyword] = unpack_short(head, position + size)[0]
                else:
                    decoded = _decode(head[position + size : position + size + length], expected_vr)
                    if decoded is None or position + size + length > end:
                        return None
                    image[keyword] = decoded
        position += size + length
    return None  # the header goes on past the bytes read


def _decode(value: bytes, vr: bytes) -> int | str | None:
    """A single well-formed IS or CS value; None for anything else (empty, multi-valued, odd)."""
    if vr == b"IS":
        return int(value) if _INTEGER_STRING.fullmatch(value) else None
    if vr == b"CS":
        return value.strip(b" ").decode("ascii") if _CODE_STRING.fullmatch(value) else None
    return None  # a US of other than one value


def _pixel(
    head: bytes, position: int, tag: int, implicit: bool, file_size: int, syntax: UID, image: dict[str, int | str]
) -> QuickHeader | None:
    if position + 12 > len(head):
        return None
    if implicit:
        vr = _IMPLIED_PIXEL_VR.get(tag) or ("OW" if int(image.get("BitsAllocated", 8)) > 8 else "OB")
        (length,) = unpack_long(head, position + 4)
        value = position + 8
    else:
        vr = head[position + 4 : position + 6].decode("ascii", "replace")
        if vr not in _PIXEL_VRS[tag]:
            return None  # UN, or a wrong VR: the full path decides (and names the problem)
        (length,) = unpack_long(head, position + 8)  # OB, OW, OF, OD all have 4-byte lengths
        value = position + 12
    if length == UNDEFINED_LENGTH or value + length != file_size:
        return None  # compressed, truncated, or elements follow: the full path
    return QuickHeader(syntax, image, PixelElement(tag, vr, position, value, length))
