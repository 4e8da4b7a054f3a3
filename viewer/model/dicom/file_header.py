"""A file's DICOM header: dataset, pixel data element, geometry and mapped values.

:func:`read_header` reads what a document needs to show frames, in one of two
ways (see README's architecture section):

* a *plain* file (:mod:`viewer.model.dicom.quickscan`: little endian,
  defined lengths, native Pixel Data to the end of the file) has its element
  headers walked with ``struct``; pydicom parses the full header when
  :attr:`FileHeader.dataset` is first used;
* any other file is parsed by pydicom up to the pixel data
  (:mod:`viewer.model.dicom.header`), large values become
  :class:`~viewer.model.dicom.mapped.MappedValue` windows of the file, and a
  large Per-frame Functional Groups Sequence is skipped and parsed per frame
  on demand. Deflated files are read into memory whole.

Every declared length is checked against the file size. The pixel data
itself is left to a frame source (:mod:`viewer.model.frames`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Any, BinaryIO, Iterator, NamedTuple

import pydicom
from pydicom.dataset import Dataset

from viewer.model.dicom import deferred, functional_groups, header, pydicom_adapter, quickscan
from viewer.model.dicom.geometry import PixelGeometry, read_geometry
from viewer.model.dicom.mapped import MappedElement, MappedValue
from viewer.model.errors import (
    DicomError,
    FileChangedError,
    NotDicomError,
    TruncatedFileError,
    UnsupportedError,
    converted_errors,
)
from viewer.model.storage.opened import FileBytes, OpenedFile


class SyntaxFlags(NamedTuple):
    implicit_vr: bool
    little_endian: bool
    encapsulated: bool


@functools.lru_cache(maxsize=64)
def syntax_flags(syntax: pydicom.uid.UID) -> SyntaxFlags:
    """A transfer syntax's encoding, looked up once (pydicom's UID properties each cost ~0.5 us)."""
    return SyntaxFlags(syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_encapsulated)


class NativeExtent(NamedTuple):
    """Native pixel data: the complete frames, and the file size they need."""

    frames: int
    required_size: int


class FileHeader:
    """What the header of one opened file says. Build it with :func:`read_header`.

    Attributes
    ----------
    transfer_syntax : pydicom.uid.UID
    pixel : header.PixelElement or None
        Where the pixel data element is (None: the file has no pixel data).
    geometry : PixelGeometry or None
        The checked Image Pixel module.
    mapped_elements : list of MappedElement
        Every binary value left in the file instead of read.
    warnings : list of str
        What was odd but usable (a file cut short, a lying Number of Frames).
    per_frame : functional_groups.PerFrameGroups or None
        Lazy access to a large Per-frame Functional Groups Sequence.
    in_memory : bool
        True for deflated files, read whole: the dataset holds the pixel data.
    """

    def __init__(self, opened: OpenedFile, memmap_threshold: int) -> None:
        self.opened = opened
        self.path = opened.path
        self.memmap_threshold = int(memmap_threshold)
        self.transfer_syntax = pydicom.uid.ExplicitVRLittleEndian
        self.pixel: header.PixelElement | None = None
        self.geometry: PixelGeometry | None = None
        self.mapped_elements: list[MappedElement] = []
        self.warnings: list[str] = []
        self.per_frame: functional_groups.PerFrameGroups | None = None
        self.in_memory = False
        self.in_memory_frames = 0
        self.native_extent: NativeExtent | None = None
        self._dataset: Dataset | None = None
        self._image_values: dict[str, int | str] | None = None  # the quick scan's Image Pixel values
        self._pixel_value: MappedValue | None = None  # until the dataset is parsed
        self._parse_lock = threading.Lock()

    # ----------------------------------------------------------------- facts
    @property
    def flags(self) -> SyntaxFlags:
        return syntax_flags(self.transfer_syntax)

    @property
    def is_encapsulated(self) -> bool:
        return self.pixel is not None and self.pixel.length is None

    @property
    def dataset(self) -> Dataset:
        """The dataset: header elements, large values mapped, Pixel Data included.

        For plain files pydicom parses the header here, on first use, not at open.
        """
        dataset = self._dataset
        if dataset is None:
            if self._image_values is None:  # not a plain file, or nothing read yet
                dataset = self._dataset = Dataset()
            else:
                dataset = self._parse_full_header()
        return dataset

    @property
    def parsed(self) -> bool:
        """True once pydicom has parsed the header (always, except plain files before first use)."""
        return self._dataset is not None

    def image_pixel_module(self) -> Any:
        """The dataset if parsed, else the quick scan's Image Pixel values (what opening needs)."""
        if self._dataset is None and self._image_values is not None:
            return self._image_values
        return self.dataset

    def extended_offsets(self) -> tuple[list[int], list[int]] | None:
        """The Extended Offset Table and its lengths, or None if absent or empty."""
        dataset = self.dataset
        if "ExtendedOffsetTable" not in dataset or "ExtendedOffsetTableLengths" not in dataset:
            return None
        import numpy as np

        tables = []
        for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            value = dataset[keyword].value
            raw = value.read() if hasattr(value, "read") else bytes(value or b"")
            if hasattr(value, "seek"):
                value.seek(0)
            tables.append(np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u8").tolist())
        if not tables[0]:
            return None
        return tables[0], tables[1]

    def pixel_options(self, frames: int) -> dict[str, Any]:
        """Keyword arguments for pydicom's decoders, from the checked geometry.

        The decoder gets the values :func:`read_geometry` checked, not the raw
        elements (pydicom's ``as_pixel_options`` fails on an empty Number of
        Frames, say).
        """
        geometry, pixel = self.geometry, self.pixel
        assert geometry is not None and pixel is not None
        options: dict[str, Any] = dict(
            rows=geometry.rows,
            columns=geometry.columns,
            samples_per_pixel=geometry.samples_per_pixel,
            bits_allocated=geometry.bits_allocated,
            bits_stored=geometry.bits_stored,
            pixel_representation=geometry.pixel_representation,
            photometric_interpretation=geometry.photometric_interpretation,
            transfer_syntax_uid=self.transfer_syntax,
            pixel_keyword=pixel.keyword,
            pixel_vr=pixel.vr,
            number_of_frames=frames,
        )
        if geometry.samples_per_pixel > 1:
            options["planar_configuration"] = geometry.planar_configuration
        return options

    # ------------------------------------------------------------- the dataset
    @contextlib.contextmanager
    def named_file(self) -> Iterator[BinaryIO]:
        """The file opened by name (pydicom reads deferred non-binary values by name), checked to be ours."""
        with open(self.path, "rb") as fileobj:
            status = os.fstat(fileobj.fileno())
            if (status.st_dev, status.st_ino) != self.opened.identity:
                raise FileChangedError(self.path, "another file is now at its path")
            yield fileobj

    def parse_to_pixels(self, fileobj: BinaryIO) -> Dataset:
        """pydicom's parse from the start, up to the pixel data or a Per-frame Functional Groups Sequence."""
        return header.parse_header(
            self.path, fileobj, self.memmap_threshold, frozenset({functional_groups.PER_FRAME_TAG})
        )

    def _parse_full_header(self) -> Dataset:
        with self._parse_lock:
            if self._dataset is not None:
                return self._dataset
            pixel = self.pixel
            assert self._pixel_value is not None and pixel is not None
            try:
                with self.named_file() as fileobj:
                    dataset = self.parse_to_pixels(fileobj)
                    stopped = fileobj.tell()
                if stopped != pixel.header_offset:
                    raise NotDicomError(self.path, f"the header now ends at offset {stopped}, not at the pixel data")
            except (DicomError, OSError) as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                self.warnings.append(f"only the pixel data is known: the header could not be parsed ({problem})")
                dataset = Dataset()
            pydicom_adapter.put_element(dataset, pydicom_adapter.buffered_element(
                pixel.tag, pixel.vr, self._pixel_value, undefined_length=pixel.length is None
            ))
            self._dataset = dataset
            return dataset

    def set_dataset(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def attach_pixel_value(self, value_window: Any, length: int) -> None:
        """Record the pixel data element's value (a file window) as mapped, and put it in the dataset."""
        pixel = self.pixel
        assert pixel is not None
        value = MappedValue(value_window, pixel.value_offset)
        element = MappedElement(pixel.tag, pixel.keyword, pixel.vr, pixel.value_offset, length, value)
        self.mapped_elements.append(element)
        if self._dataset is None:
            self._pixel_value = value  # the element is made when the dataset is parsed
        else:
            pydicom_adapter.put_element(self._dataset, pydicom_adapter.buffered_element(
                pixel.tag, pixel.vr, value, undefined_length=pixel.length is None
            ))


def read_header(opened: OpenedFile, memmap_threshold: int) -> FileHeader:
    """Read the header of an opened file (see the module docstring).

    Raises
    ------
    DicomError
        (or a subclass) for anything wrong with the file.
    """
    result = FileHeader(opened, memmap_threshold)
    head = bytes(opened.read(0, min(quickscan.HEAD_BYTES, opened.size))) if opened.size else b""
    header.sniff(opened.path, head[:132])
    quick = quickscan.scan(head, opened.size, memmap_threshold)
    if quick is not None:
        result._image_values = quick.image
        result.transfer_syntax = quick.transfer_syntax
        result.pixel = quick.pixel
        _read_native_geometry(result)
    else:
        _read_parsed(result)
    return result


def _read_parsed(result: FileHeader) -> None:
    """Any file: pydicom parses the header up to the pixel data; the pixel element is located."""
    with result.named_file() as fileobj:
        dataset = result.parse_to_pixels(fileobj)
        if header.empty_dataset_like(dataset):
            raise NotDicomError(result.path, "not a DICOM file: no data elements could be read")
        result.set_dataset(dataset)
        result.transfer_syntax = header.transfer_syntax_of(dataset)
        if header.is_deflated(dataset):
            _read_in_memory(result)
            return
        _skip_per_frame_groups(result, fileobj)
        _locate_pixels(result, fileobj)


def _window(result: FileHeader, offset: int, length: int):
    return result.opened.window(offset, length)


def _locate_pixels(result: FileHeader, fileobj: BinaryIO) -> None:
    implicit, little, _ = result.flags
    pixel_position = fileobj.tell()
    bits = _int_or_none(result.dataset.get("BitsAllocated"))
    pixel = header.read_pixel_element_header(result.path, fileobj, implicit, little, bits)
    result.mapped_elements += deferred.map_deferred_values(
        result.path, result.dataset, result.opened.size, lambda offset, length: _window(result, offset, length), bits
    )
    if pixel is None:
        if pixel_position < result.opened.size:
            result.warnings.append(f"bytes after offset {pixel_position} could not be parsed and were ignored")
        return
    result.pixel = pixel
    if pixel.value_offset > result.opened.size:
        raise TruncatedFileError(result.path, "the file ends inside the Pixel Data element header")
    if pixel.length is None:
        result.geometry = read_geometry(result.path, result.dataset, pixel.keyword, encapsulated=True)
        if not result.flags.encapsulated:
            raise UnsupportedError(
                result.path,
                f"Pixel Data has undefined length but {result.transfer_syntax.name} is not a compressed syntax",
            )
        return  # the frame source finds the frames, then read_trailing_elements
    end = _read_native_geometry(result)
    read_trailing_elements(result, end)


def read_trailing_elements(result: FileHeader, end: int) -> None:
    """Parse the elements after the pixel data (padding, signatures), mapping large values."""
    if end >= result.opened.size or not result.parsed:
        return
    implicit, little, _ = result.flags
    bits = _int_or_none(result.dataset.get("BitsAllocated"))
    with result.named_file() as fileobj:
        trailing = header.read_trailing_elements(fileobj, end, implicit, little, result.memmap_threshold)
    if trailing is not None:
        result.dataset.update(trailing)
        result.mapped_elements += deferred.map_deferred_values(
            result.path, result.dataset, result.opened.size,
            lambda offset, length: _window(result, offset, length), bits,
        )


def _skip_per_frame_groups(result: FileHeader, fileobj: BinaryIO) -> None:
    """Skip a large Per-frame Functional Groups Sequence; parse its items on demand."""
    implicit, little, _ = result.flags
    position = fileobj.tell()
    tag, value_start, length = header.read_sequence_header(fileobj, implicit, little)
    fileobj.seek(position)
    if tag != functional_groups.PER_FRAME_TAG:
        return
    dataset = result.dataset
    frames = _int_or_none(dataset.get("NumberOfFrames")) or 1
    if frames < functional_groups.LAZY_MIN_FRAMES:
        header.continue_header(result.path, fileobj, dataset, result.memmap_threshold)
        return
    buffer = FileBytes(result.opened)
    if length is None:
        end = functional_groups.find_sequence_end(result.path, buffer, value_start, implicit, little)
    else:
        end = value_start + length
    if end > result.opened.size:
        raise TruncatedFileError(
            result.path, f"the Per-frame Functional Groups Sequence ends past the end of the file ({end} bytes)"
        )
    result.per_frame = functional_groups.PerFrameGroups(
        result.path, buffer, value_start, end, implicit, little, pydicom_adapter.character_set(dataset)
    )
    value = MappedValue(_window(result, value_start, end - value_start), value_start)
    # Shown as "memory-mapped" UN (pydicom would restore SQ and iterate the value); items parsed on demand.
    pydicom_adapter.put_element(dataset, pydicom_adapter.buffered_element(functional_groups.PER_FRAME_TAG, "UN", value))
    result.mapped_elements.append(
        MappedElement(functional_groups.PER_FRAME_TAG, "PerFrameFunctionalGroupsSequence", "SQ", value_start,
                      end - value_start, value)
    )
    fileobj.seek(end)
    header.continue_header(result.path, fileobj, dataset, result.memmap_threshold)


def _read_native_geometry(result: FileHeader) -> int:
    """Native pixel data: check the geometry against the bytes there, count complete frames.

    Returns the offset just past the stored value (for trailing elements).
    """
    pixel = result.pixel
    assert pixel is not None
    path, size = result.path, result.opened.size
    if pixel.value_offset > size:
        raise TruncatedFileError(path, "the file ends inside the Pixel Data element header")
    if result.flags.encapsulated:
        # Mapped as native, the compressed bytes would show as noise.
        raise UnsupportedError(
            path,
            f"{pixel.keyword} has a defined length ({pixel.length} bytes) but {result.transfer_syntax.name} "
            "is a compressed transfer syntax, whose pixel data must have undefined length",
        )
    geometry = read_geometry(path, result.image_pixel_module(), pixel.keyword, encapsulated=False)
    result.geometry = geometry
    declared = pixel.length or 0
    available = min(declared, size - pixel.value_offset)
    frames = geometry.complete_native_frames(available)
    name = pixel.keyword
    if frames == 0:
        raise TruncatedFileError(
            path,
            f"{name} declares {geometry.number_of_frames} frame(s) of {geometry.frame_nbytes} bytes "
            f"but holds only {available} bytes: not even one frame is complete",
        )
    if declared > size - pixel.value_offset:
        result.warnings.append(
            f"{name} declares {declared} bytes but the file ends after {available}: "
            f"showing the {frames} complete frame(s) of {geometry.number_of_frames}"
        )
    elif frames < geometry.number_of_frames:
        result.warnings.append(
            f"{name} declares {geometry.number_of_frames} frames of {geometry.frame_nbytes} bytes but holds "
            f"{declared} bytes: showing the {frames} complete frame(s)"
        )
    result.native_extent = NativeExtent(frames, pixel.value_offset + geometry.native_nbytes(frames))
    # The decoder gets the whole value: pydicom reads one byte past an odd-length
    # frame for big endian 8-bit OW data.
    stored = min(declared, available)
    used = geometry.native_nbytes(frames)
    result.attach_pixel_value(_window(result, pixel.value_offset, max(used, stored)), stored)
    return pixel.value_offset + stored


def _read_in_memory(result: FileHeader) -> None:
    """Deflated files cannot be mapped: read them whole through pydicom."""
    with converted_errors(result.path, "cannot read the deflated dataset", NotDicomError):
        dataset = header.read_whole(result.path)  # dcmread would walk a zeroed tail element by element
        geometry = None
        stored = 0
        if "PixelData" in dataset:
            geometry = read_geometry(result.path, dataset, "PixelData", result.flags.encapsulated)
            stored = len(dataset.PixelData or b"")
    result.set_dataset(dataset)
    result.geometry = geometry
    result.in_memory = True
    result.in_memory_frames = _complete_frames_in_memory(result, geometry, stored)
    result.warnings.append("deflated transfer syntax: the dataset was read into memory, not mapped")


def _complete_frames_in_memory(result: FileHeader, geometry: PixelGeometry | None, stored: int) -> int:
    """Number of Frames checked against the Pixel Data read, as for mapped files."""
    if geometry is None:
        return 0
    frames = geometry.complete_native_frames(stored)
    if frames == 0:
        raise TruncatedFileError(
            result.path,
            f"PixelData declares {geometry.number_of_frames} frame(s) of {geometry.frame_nbytes} bytes "
            f"but holds only {stored} bytes: not even one frame is complete",
        )
    if frames < geometry.number_of_frames:
        result.warnings.append(
            f"PixelData declares {geometry.number_of_frames} frames of {geometry.frame_nbytes} bytes but holds "
            f"{stored} bytes: showing the {frames} complete frame(s)"
        )
    return frames


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
