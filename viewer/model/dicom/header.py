"""Header parsing: read a DICOM file's dataset without reading large values.

How a file is opened (see also :mod:`viewer.model.document`):

1. :func:`sniff` checks the first bytes: a preamble with ``DICM``, or (as
   dcmtk accepts) a bare dataset whose first element looks like DICOM.
2. pydicom parses the header with ``defer_size`` (binary values longer than
   the threshold are skipped, only their offset recorded) and
   ``stop_before_pixels`` (so undefined-length, encapsulated pixel data is
   never read either).
3. :func:`read_pixel_element_header` reads the Pixel Data element's own
   header at the position pydicom stopped at; elements after the pixel data
   (trailing padding, signatures) are parsed the same way.
4. :func:`viewer.model.dicom.deferred.map_deferred_values` replaces every deferred binary value, in
   nested sequences too, by a :class:`~viewer.model.dicom.mapped.MappedValue` over a
   ``numpy.memmap`` -- after checking that the value lies inside the file,
   because touching a mapping beyond the end of a file raises SIGBUS.
"""

from __future__ import annotations

import os
import struct
import zlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Callable

import pydicom
from pydicom.dataset import Dataset, FileDataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from viewer.model.errors import DicomError, NotDicomError, TruncatedFileError, UnsupportedError, converted_errors
from viewer.model.dicom import pydicom_adapter
from viewer.model.dicom.deferred import BINARY_VRS
from viewer.model.dicom.encoding import EXPLICIT_LONG_VRS, PREAMBLE_BYTES, UNDEFINED_LENGTH, VALID_VRS, scan_meta

PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
MAX_INFLATED_BYTES = 256 << 20
"""Largest dataset a Deflated file may inflate to (it is read into memory whole)."""
MAX_ZERO_ELEMENTS = 16
"""Empty (0000,0000) elements tolerated in a row before the dataset is called damaged."""
EXTENDED_OFFSET_TAGS = {0x7FE00001: "Extended Offset Table", 0x7FE00002: "Extended Offset Table Lengths"}
_PIXEL_VRS = {0x7FE00010: ("OB", "OW"), 0x7FE00008: ("OF",), 0x7FE00009: ("OD",)}
TRANSFER_SYNTAX_TAG = 0x00020010
# Elements the model reads before (or while) checking the geometry. pydicom
# converts a value when it is first accessed, and a malformed one raises
# anything from ValueError to NotImplementedError; they are converted here,
# once, so that a bad value is reported as a DicomError naming the element.
IMAGE_PIXEL_TAGS = {
    0x00280002: "Samples per Pixel",
    0x00280004: "Photometric Interpretation",
    0x00280006: "Planar Configuration",
    0x00280008: "Number of Frames",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "Bits Allocated",
    0x00280101: "Bits Stored",
    0x00280102: "High Bit",
    0x00280103: "Pixel Representation",
}


@dataclass(frozen=True)
class PixelElement:
    """Where the pixel data element sits in the file.

    Attributes
    ----------
    tag : int
        0x7FE00010, 0x7FE00008 or 0x7FE00009.
    vr : str
        The VR (from the file for explicit VR, inferred otherwise).
    header_offset : int
        Offset of the element's tag.
    value_offset : int
        Offset of the first value byte.
    length : int or None
        Declared value length, or None for undefined length (encapsulated).
    """

    tag: int
    vr: str
    header_offset: int
    value_offset: int
    length: int | None

    @property
    def keyword(self) -> str:
        return PIXEL_TAGS[self.tag]


def sniff(path: str, head: bytes) -> bool:
    """Return True if the file has a preamble (``DICM`` at 128), False if bare.

    Raises
    ------
    NotDicomError
        If the bytes are not recognisably DICOM.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        raise NotDicomError(path, f"not a DICOM file: only {len(head)} bytes long")
    if _looks_like_dataset(head):
        return False
    raise NotDicomError(path, "not a DICOM file: no 'DICM' marker at byte 128 and no DICOM element at the start")


def _looks_like_dataset(head: bytes) -> bool:
    """True if the first bytes are a plausible element (file meta or dataset)."""
    for order in "<>":
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in (0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028) or element > 0x00FF and group != 0x0002:
            continue
        if head[4:6] in VALID_VRS:
            return True
        (length,) = struct.unpack(order + "I", head[4:8])
        if order == "<" and length < 1024:  # implicit VR little endian
            return True
    return False


def parse_header(
    path: str, fileobj: BinaryIO, defer_size: int | None, stop_tags: frozenset[int] = frozenset(), *,
    whole: bool = False,
) -> Dataset:
    """Parse everything up to the pixel data (or a tag in `stop_tags`), skipping values over `defer_size` bytes.

    With `defer_size` None, every value is read.

    The file object is left at the tag that stopped the parse (or at the end).
    With ``whole=True`` the parse goes on to the end of the file.

    Raises
    ------
    DicomError
        For any parse failure, with pydicom's reason.
    """
    from pydicom.filereader import read_partial

    with _header_errors(path):
        check_inflated_size(path, fileobj)
        # Whole files have been through parse_header already: zeros now can only follow the pixel data.
        stop_when = _stop_when(path, frozenset(), stop_at_zeros=True) if whole else _stop_when(
            path, frozenset(PIXEL_TAGS) | stop_tags
        )
        dataset = read_partial(fileobj, stop_when, defer_size=defer_size, force=True)
        check_transfer_syntax(path, dataset)
        decode_image_pixel_elements(path, dataset)
    return dataset


def _header_errors(path: str) -> AbstractContextManager[None]:
    """pydicom's failures while parsing the header, as NotDicomError (TruncatedFileError where the file ends)."""
    return converted_errors(path, "cannot parse the DICOM header", NotDicomError,
                            cut_short="the file ends inside the header")


def read_whole(path: str) -> Dataset:
    """Read a whole file, pixel data included, into memory (for deflated files).

    The same guards as :func:`parse_header` apply; pydicom's ``dcmread`` has none.
    """
    with open(path, "rb") as fileobj:
        return parse_header(path, fileobj, None, whole=True)


def _stop_when(
    path: str, stops: frozenset[int], *, stop_at_zeros: bool = False
) -> Callable[[int, str | None, int], bool]:
    """pydicom's per-element hook: stop at `stops`; refuse (or stop at) a run of zeroed bytes.

    Zero bytes read as empty (0000,0000) elements, 8 bytes each: pydicom would
    walk a zeroed megabyte as 131,072 elements, and an inflated deflate bomb
    as hundreds of millions. No file's dataset holds group 0000 elements.
    """
    zero_elements = 0

    def stop_when(tag: int, vr: str | None, length: int) -> bool:
        nonlocal zero_elements
        if tag or length:
            zero_elements = 0
            return tag in stops
        zero_elements += 1
        if zero_elements <= MAX_ZERO_ELEMENTS:
            return False
        if stop_at_zeros:
            return True
        raise NotDicomError(path, "the dataset is damaged: a run of zero bytes where data elements should be")

    return stop_when


def check_inflated_size(path: str, fileobj: BinaryIO) -> None:
    """Refuse a Deflated file that inflates to more than MAX_INFLATED_BYTES.

    pydicom inflates the whole dataset in memory before parsing it, and deflate
    compresses zeros about 1000:1: a 1 MB file could take gigabytes and minutes.
    The stream is inflated here a megabyte at a time, counting, keeping nothing.
    """
    start = fileobj.tell()
    position, syntax = _read_meta(fileobj, start)
    if syntax != DeflatedExplicitVRLittleEndian:
        fileobj.seek(start)
        return
    fileobj.seek(start + position)
    compressed = os.fstat(fileobj.fileno()).st_size - fileobj.tell()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = 0
    try:
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or fileobj.read(1 << 16)
            if not chunk:
                break
            inflated += len(inflater.decompress(chunk, 1 << 20))
            if inflated > MAX_INFLATED_BYTES:
                raise UnsupportedError(
                    path,
                    f"the Deflated dataset ({compressed} bytes) inflates to more than {MAX_INFLATED_BYTES} bytes, "
                    "the most Cinemap reads into memory",
                )
    except zlib.error:
        pass  # pydicom's parse reports it
    fileobj.seek(start)


def _read_meta(fileobj: BinaryIO, start: int) -> tuple[int, str | None]:
    """(dataset offset from `start`, transfer syntax or None) of the file meta at `start`.

    The file meta is read from the bytes at hand, more of them if it runs
    past the first 16 KB; a file without the ``DICM`` preamble may begin with it.
    """
    wanted = 16 << 10
    while True:
        fileobj.seek(start)
        head = fileobj.read(wanted)
        position, syntax = scan_meta(head, PREAMBLE_BYTES if head[128:132] == b"DICM" else 0)
        if syntax is not None or position + 8 <= len(head) or len(head) < wanted:
            return position, syntax
        wanted *= 4


def continue_header(path: str, fileobj: BinaryIO, dataset: Dataset, defer_size: int) -> None:
    """Parse from the current position up to the pixel data, adding to `dataset`."""
    from pydicom.filereader import read_dataset

    implicit, little = dataset.original_encoding
    if implicit is None or little is None:  # pydicom sets both when it reads a file
        raise ValueError(f"{path}: the dataset was not read from a file, its encoding is unknown")
    with _header_errors(path):
        rest = read_dataset(
            fileobj, implicit, little, stop_when=_stop_when(path, frozenset(PIXEL_TAGS)),
            defer_size=defer_size, parent_encoding=pydicom_adapter.character_set(dataset),
        )
    pydicom_adapter.merge_raw(dataset, rest)
    decode_image_pixel_elements(path, dataset)


def check_transfer_syntax(path: str, dataset: Dataset) -> None:
    """Raise UnsupportedError unless the file meta names a transfer syntax pydicom knows (or none).

    Without a known transfer syntax neither the encoding of the dataset nor
    the compression of the pixel data can be known.
    """
    meta = getattr(dataset, "file_meta", None)
    if not meta or TRANSFER_SYNTAX_TAG not in meta:
        return
    with converted_errors(path, "the Transfer Syntax UID (0002,0010) cannot be read", UnsupportedError):
        uid = meta[TRANSFER_SYNTAX_TAG].value
    if uid in (None, ""):
        return  # treated as absent: pydicom's guess from the bytes is used
    if not isinstance(uid, str) or not UID(uid).is_transfer_syntax:
        raise UnsupportedError(path, f"the Transfer Syntax UID (0002,0010) {uid!r} is not a known transfer syntax")


def decode_image_pixel_elements(path: str, dataset: Dataset) -> None:
    """Convert the Image Pixel module's values now; raise UnsupportedError naming one pydicom cannot read.

    The Extended Offset Table and its lengths are read as raw 64-bit words, so
    they must have a binary VR.
    """
    for tag, name in EXTENDED_OFFSET_TAGS.items():
        element = pydicom_adapter.raw_element(dataset, tag)
        if element is not None and element.VR not in (None, "OV", "OB", "UN"):
            raise UnsupportedError(
                path, f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X}) has VR {element.VR!r}; it must be OV"
            )
    for tag, name in IMAGE_PIXEL_TAGS.items():
        if tag in dataset:
            problem = f"{name} ({tag >> 16:04X},{tag & 0xFFFF:04X}) cannot be read"
            with converted_errors(path, problem, UnsupportedError):
                dataset[tag]


def read_sequence_header(fileobj: BinaryIO, implicit_vr: bool, little_endian: bool) -> tuple[int, int, int | None]:
    """(tag, value offset, length or None if undefined) of the element at the current position."""
    order = "<" if little_endian else ">"
    position = fileobj.tell()
    head = fileobj.read(12)
    if len(head) < 8:
        return -1, position, 0
    group, element = struct.unpack(order + "HH", head[:4])
    if implicit_vr:
        (length,) = struct.unpack(order + "I", head[4:8])
        value = position + 8
    elif head[4:6] in EXPLICIT_LONG_VRS:
        if len(head) < 12:
            return -1, position, 0
        (length,) = struct.unpack(order + "I", head[8:12])
        value = position + 12
    else:
        (length,) = struct.unpack(order + "H", head[6:8])
        value = position + 8
    return (group << 16) | element, value, None if length == UNDEFINED_LENGTH else length


def is_deflated(dataset: Dataset) -> bool:
    """True for the Deflated Explicit VR Little Endian transfer syntax."""
    meta = getattr(dataset, "file_meta", None)
    return meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian


def transfer_syntax_of(dataset: Dataset) -> UID:
    """The dataset's transfer syntax, or the one pydicom guessed for bare files."""
    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta else None
    if uid:
        return UID(uid)
    implicit, little = dataset.original_encoding
    if implicit:
        return UID(pydicom.uid.ImplicitVRLittleEndian)
    return UID(pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian)


def read_pixel_element_header(
    path: str, fileobj: BinaryIO, implicit_vr: bool, little_endian: bool, bits_allocated: int | None
) -> PixelElement | None:
    """Read the pixel data element header at the current position.

    Returns None at the end of the file (no pixel data).
    """
    header_offset = fileobj.tell()
    head = fileobj.read(8)
    if len(head) == 0:
        return None
    if len(head) < 8:
        raise TruncatedFileError(path, "the file ends inside the Pixel Data element header")
    order = "<" if little_endian else ">"
    group, element = struct.unpack(order + "HH", head[:4])
    tag = (group << 16) | element
    if tag not in PIXEL_TAGS:
        return None
    implied_vr = {0x7FE00008: "OF", 0x7FE00009: "OD"}.get(tag, "OW" if (bits_allocated or 8) > 8 else "OB")
    if implicit_vr:
        (length,) = struct.unpack(order + "I", head[4:8])
        vr = implied_vr
        value_offset = header_offset + 8
    else:
        vr_bytes = head[4:6]
        vr = vr_bytes.decode("ascii", "replace")
        if vr == "UN":
            vr = implied_vr  # as pydicom does, from the dictionary
        elif vr not in _PIXEL_VRS[tag]:
            raise UnsupportedError(
                path,
                f"{PIXEL_TAGS[tag]} ({group:04X},{element:04X}) has VR {vr!r}; "
                f"it must be {' or '.join(_PIXEL_VRS[tag])}",
            )
        if vr_bytes in EXPLICIT_LONG_VRS:
            extra = fileobj.read(4)
            if len(extra) < 4:
                raise TruncatedFileError(path, "the file ends inside the Pixel Data element header")
            (length,) = struct.unpack(order + "I", extra)
            value_offset = header_offset + 12
        else:
            (length,) = struct.unpack(order + "H", head[6:8])
            value_offset = header_offset + 8
    return PixelElement(tag, vr, header_offset, value_offset, None if length == UNDEFINED_LENGTH else length)


def read_trailing_elements(
    fileobj: BinaryIO, start: int, implicit_vr: bool, little_endian: bool, defer_size: int
) -> Dataset | None:
    """Parse the elements after the pixel data (padding, signatures); None if unparsable.

    A zeroed tail (a preallocated or damaged file) ends the parse, rather than
    being walked 8 bytes at a time, and its empty (0000,0000) "elements" are
    not kept: a tail that starts with zeros is not parsed at all (pydicom
    would also warn that the zeros look like implicit VR).
    """
    from pydicom.filereader import read_dataset

    fileobj.seek(start)
    if not fileobj.read(8).strip(b"\0"):
        return None  # zero padding (or nothing)
    fileobj.seek(start)
    try:
        stop_when = _stop_when(getattr(fileobj, "name", ""), frozenset(), stop_at_zeros=True)
        trailing = read_dataset(fileobj, implicit_vr, little_endian, stop_when=stop_when, defer_size=defer_size)
    except Exception:
        return None
    for tag in [tag for tag in trailing.keys() if tag >> 16 == 0]:
        del trailing[tag]
    return trailing


def open_mode_ok(path: str) -> os.stat_result:
    """The file's status; a DicomError if `path` is not a regular file.

    ``stat`` before ``open``: opening a FIFO would block, and opening some
    devices has side effects.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError as exc:
        raise DicomError(path, "no such file") from exc
    except OSError as exc:
        raise DicomError(path, f"cannot open: {exc.strerror}") from exc
    import stat

    if stat.S_ISDIR(status.st_mode):
        raise DicomError(path, "is a folder, not a DICOM file")
    if not stat.S_ISREG(status.st_mode):
        raise DicomError(path, "is not a regular file")
    return status


def empty_dataset_like(dataset: Dataset) -> bool:
    """True if pydicom parsed nothing useful (force=True on non-DICOM bytes)."""
    return len(dataset) == 0 and not getattr(dataset, "file_meta", None)


__all__ = [
    "BINARY_VRS",
    "FileDataset",
    "PixelElement",
    "empty_dataset_like",
    "is_deflated",
    "open_mode_ok",
    "parse_header",
    "read_pixel_element_header",
    "read_trailing_elements",
    "sniff",
    "transfer_syntax_of",
]
