"""Opening a document: the file, its header, its pixel data (mixed into :class:`~viewer.model.Document`).

Two paths (see README's architecture section):

* a *plain* file (:mod:`viewer.model.dicom.quickscan`: little endian, defined
  lengths, native Pixel Data to the end of the file) has its element headers
  walked with ``struct``; pydicom parses the full header when
  :attr:`OpeningMixin.dataset` is first used;
* any other file is parsed by pydicom up to the pixel data at open
  (:mod:`viewer.model.dicom.header`), large values mapped, a large Per-frame
  Functional Groups Sequence skipped and parsed per frame on demand.

Both map the file once (after a read lease, :mod:`viewer.model.document_guard`)
and check every declared length against the file size before touching the
mapping. Deflated files are read into memory whole.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from typing import Any, BinaryIO, Iterator, NamedTuple

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder

from viewer.model.dicom import encapsulated
from viewer.model.storage import fileaccess
from viewer.model.dicom import functional_groups
from viewer.model.dicom import header
from viewer.model.dicom import quickscan
from viewer.model.errors import DicomError, FileChangedError, NotDicomError, TruncatedFileError, UnsupportedError
from viewer.model.dicom.geometry import PixelGeometry, read_geometry
from viewer.model.dicom.mapped import MappedElement, MappedValue


class OpeningMixin:
    """How :class:`~viewer.model.Document` opens a file; its attributes are set in ``Document.__init__``."""

    # ----------------------------------------------------------------- opening
    def _open(self) -> None:
        started = time.perf_counter()
        status = header.open_mode_ok(self.path)
        self.file_access, self.file_access_reason = fileaccess.resolve_access(
            self.path, self.file_access, status.st_dev
        )
        self.recovery = _recover_journal(self.path)
        try:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise DicomError(self.path, f"cannot open: {exc.strerror}") from exc
        status = os.fstat(self._fd)
        self.file_size = status.st_size
        self._identity = (status.st_dev, status.st_ino)
        self._mtime_ns = status.st_mtime_ns
        head = os.pread(self._fd, quickscan.HEAD_BYTES, 0)
        header.sniff(self.path, head[:132])
        if self.file_size and self.file_access == fileaccess.MEMORY_MAP and self._take_lease():
            self._map_whole_file()
        else:
            self._reader = fileaccess.PreadArray(self.path, self._fd, 0, self.file_size)
        quick = quickscan.scan(head, self.file_size, self.memmap_threshold)
        if quick is not None:
            self._open_quick(quick)
        else:
            self._open_parsed()
        self.open_seconds = time.perf_counter() - started

    def _open_parsed(self) -> None:
        """Any file: pydicom parses the header up to the pixel data, then the pixel data is mapped."""
        with self._named_file() as fileobj:
            dataset = self._parse_to_pixels(fileobj)
            if header.empty_dataset_like(dataset):
                raise NotDicomError(self.path, "not a DICOM file: no data elements could be read")
            self.dataset = dataset
            self.transfer_syntax = header.transfer_syntax_of(dataset)
            if header.is_deflated(dataset):
                self._open_in_memory()
            else:
                self._open_per_frame_groups(fileobj)
                self._open_mapped(fileobj)

    @contextlib.contextmanager
    def _named_file(self) -> Iterator[BinaryIO]:
        """The file opened by name (pydicom reads deferred non-binary values by name), checked to be ours."""
        with open(self.path, "rb") as fileobj:
            if _identity_of(fileobj.fileno()) != self._identity:
                raise FileChangedError(self.path, "another file is now at its path")
            yield fileobj

    def _parse_to_pixels(self, fileobj: BinaryIO) -> Dataset:
        """pydicom's parse from the start, up to the pixel data or a Per-frame Functional Groups Sequence."""
        return header.parse_header(
            self.path, fileobj, self.memmap_threshold, frozenset({functional_groups.PER_FRAME_TAG})
        )

    def _open_quick(self, quick: quickscan.QuickHeader) -> None:
        """A plain file (:mod:`viewer.model.dicom.quickscan`): frames now, the full header on first use."""
        self._image_values = quick.image
        self.transfer_syntax = quick.transfer_syntax
        self.pixel_element = quick.pixel
        self._open_native(quick.pixel)

    @property
    def dataset(self) -> Dataset:
        """The file's dataset: header elements, large values memory-mapped, Pixel Data included.

        For plain files (:mod:`viewer.model.dicom.quickscan`) pydicom parses the
        header here, on first use, not at open.
        """
        dataset = self._dataset
        if dataset is None:
            if self._image_values is None:  # not opened (yet), or not a plain file
                dataset = self._dataset = Dataset()
            else:
                dataset = self._parse_full_header()
        return dataset

    @dataset.setter
    def dataset(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def _image_pixel_module(self) -> Any:
        """The dataset if parsed, else the quick scan's Image Pixel values (what opening needs)."""
        if self._dataset is None and self._image_values is not None:
            return self._image_values
        return self.dataset

    def _parse_full_header(self) -> Dataset:
        with self._state_lock:
            if self._dataset is not None:
                return self._dataset
            assert self._pixel_value is not None and self.pixel_element is not None
            try:
                with self._named_file() as fileobj:
                    dataset = self._parse_to_pixels(fileobj)
                    stopped = fileobj.tell()
                if stopped != self.pixel_element.header_offset:
                    raise NotDicomError(self.path, f"the header now ends at offset {stopped}, not at the pixel data")
            except (DicomError, OSError) as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                self.warnings.append(f"only the pixel data is known: the header could not be parsed ({problem})")
                dataset = Dataset()
            dataset._dict[pydicom.tag.Tag(self.pixel_element.tag)] = _pixel_data_element(
                self.pixel_element, self._pixel_value
            )
            self._dataset = dataset
            return dataset

    def _open_mapped(self, fileobj) -> None:
        implicit, little, _ = _syntax_flags(self.transfer_syntax)
        pixel_position = fileobj.tell()
        bits = _int_or_none(self.dataset.get("BitsAllocated"))
        pixel = header.read_pixel_element_header(self.path, fileobj, implicit, little, bits)
        self.mapped_elements += header.map_deferred_values(
            self.path, self.dataset, self.file_size, self._map_range, bits
        )
        if pixel is None:
            if pixel_position < self.file_size:
                self.warnings.append(f"bytes after offset {pixel_position} could not be parsed and were ignored")
            return
        self.pixel_element = pixel
        if pixel.length is None:
            end = self._open_encapsulated(pixel)
        else:
            end = self._open_native(pixel)
        if end < self.file_size:
            trailing = header.read_trailing_elements(fileobj, end, implicit, little, self.memmap_threshold)
            if trailing is not None:
                self.dataset.update(trailing)
                self.mapped_elements += header.map_deferred_values(
                    self.path, self.dataset, self.file_size, self._map_range, bits
                )

    def _open_per_frame_groups(self, fileobj) -> None:
        """Skip a large Per-frame Functional Groups Sequence; parse its items on demand."""
        implicit, little, _ = _syntax_flags(self.transfer_syntax)
        position = fileobj.tell()
        tag, value_start, length = header.read_sequence_header(fileobj, implicit, little)
        fileobj.seek(position)
        if tag != functional_groups.PER_FRAME_TAG:
            return
        frames = _int_or_none(self.dataset.get("NumberOfFrames")) or 1
        if frames < functional_groups.LAZY_MIN_FRAMES or self._mapping is None:
            header.continue_header(self.path, fileobj, self.dataset, self.memmap_threshold)
            return
        buffer = functional_groups.as_buffer(self._mapping)
        if length is None:
            end = functional_groups.find_sequence_end(self.path, buffer, value_start, implicit, little)
        else:
            end = value_start + length
        if end > self.file_size:
            raise TruncatedFileError(
                self.path, f"the Per-frame Functional Groups Sequence ends past the end of the file ({end} bytes)"
            )
        self._per_frame = functional_groups.PerFrameGroups(
            self.path, buffer, value_start, end, implicit, little, self.dataset._character_set
        )
        value = MappedValue(self._map_range(value_start, end - value_start), value_start)
        element = DataElement(functional_groups.PER_FRAME_TAG, "UN", b"")
        element.VR = "UN"  # pydicom would restore SQ and iterate the value
        element._value = value  # shown as "memory-mapped"; items parsed on demand
        self.dataset._dict[pydicom.tag.Tag(functional_groups.PER_FRAME_TAG)] = element
        self.mapped_elements.append(
            MappedElement(functional_groups.PER_FRAME_TAG, "PerFrameFunctionalGroupsSequence", "SQ", value_start,
                          end - value_start, value)
        )
        fileobj.seek(end)
        header.continue_header(self.path, fileobj, self.dataset, self.memmap_threshold)

    def _map_range(self, offset: int, length: int):
        """A mapped ``uint8`` view of the range, or a read-on-demand window in read mode.

        A plain ``ndarray`` whose base is the ``numpy.memmap``: slicing and
        indexing a ``memmap`` run its Python ``__array_finalize__`` (0.9 us a
        frame index, against 0.08 us for an ``ndarray``).
        """
        if self._mapping is None:
            assert self._reader is not None
            return self._reader.window(offset, length)
        offset = min(max(0, offset), self.file_size)
        length = min(max(0, length), self.file_size - offset)
        return np.ndarray((length,), np.uint8, buffer=self._mapping, offset=offset)

    def _check_not_truncated_before_pixels(self, pixel: header.PixelElement) -> None:
        if pixel.value_offset > self.file_size:
            raise TruncatedFileError(self.path, "the file ends inside the Pixel Data element header")

    def _open_native(self, pixel: header.PixelElement) -> int:
        self._check_not_truncated_before_pixels(pixel)
        if _syntax_flags(self.transfer_syntax).encapsulated:
            # Mapped as native, the compressed bytes would show as noise.
            raise UnsupportedError(
                self.path,
                f"{pixel.keyword} has a defined length ({pixel.length} bytes) but {self.transfer_syntax.name} "
                "is a compressed transfer syntax, whose pixel data must have undefined length",
            )
        geometry = read_geometry(self.path, self._image_pixel_module(), pixel.keyword, encapsulated=False)
        self.geometry = geometry
        declared = pixel.length or 0
        expected = geometry.native_nbytes(geometry.number_of_frames)
        available = min(declared, self.file_size - pixel.value_offset)
        frames = geometry.complete_native_frames(available)
        name = pixel.keyword
        if frames == 0:
            raise TruncatedFileError(
                self.path,
                f"{name} declares {geometry.number_of_frames} frame(s) of {geometry.frame_nbytes} bytes "
                f"but holds only {available} bytes: not even one frame is complete",
            )
        if declared > self.file_size - pixel.value_offset:
            self.warnings.append(
                f"{name} declares {declared} bytes but the file ends after {available}: "
                f"showing the {frames} complete frame(s) of {geometry.number_of_frames}"
            )
        elif frames < geometry.number_of_frames:
            self.warnings.append(
                f"{name} declares {geometry.number_of_frames} frames of {geometry.frame_nbytes} bytes but holds "
                f"{declared} bytes: showing the {frames} complete frame(s)"
            )
        elif declared < expected:
            pass
        self._num_frames = frames
        used = geometry.native_nbytes(frames)
        # The decoder gets the whole value: pydicom reads one byte past an
        # odd-length frame for big endian 8-bit OW data.
        stored = min(declared, available)
        self._pixel_bytes = self._map_range(pixel.value_offset, max(used, stored))
        self._required_size = pixel.value_offset + used
        self.mapped_elements.append(MappedElement(pixel.tag, name, pixel.vr, pixel.value_offset, stored, None))
        value = self._pixel_bytes if used <= stored else self._map_range(pixel.value_offset, stored)
        self._attach_pixel_value(pixel, value)
        self.frames = self._native_view(geometry, frames)
        self._decoder = _decoder_for(self.path, self.transfer_syntax)
        self._decode_options = self._pixel_options(pixel, frames)
        return pixel.value_offset + stored

    def _native_view(self, geometry: PixelGeometry, frames: int) -> np.ndarray | None:
        if geometry.bits_allocated == 1 or geometry.photometric_interpretation == "YBR_FULL_422":
            return None  # packed or subsampled: no (frames, rows, cols, samples) view exists
        if self._pixel_bytes is None or self._mapping is None:
            return None
        dtype = geometry.dtype.newbyteorder("<" if _syntax_flags(self.transfer_syntax).little_endian else ">")
        flat = self._pixel_bytes[: frames * geometry.frame_nbytes].view(dtype)
        rows, cols, samples = geometry.rows, geometry.columns, geometry.samples_per_pixel
        if samples == 1:
            return flat.reshape(frames, rows, cols)
        if geometry.planar_configuration == 0:
            return flat.reshape(frames, rows, cols, samples)
        return flat.reshape(frames, samples, rows, cols).transpose(0, 2, 3, 1)

    def _open_encapsulated(self, pixel: header.PixelElement) -> int:
        self._check_not_truncated_before_pixels(pixel)
        geometry = read_geometry(self.path, self.dataset, pixel.keyword, encapsulated=True)
        self.geometry = geometry
        if not _syntax_flags(self.transfer_syntax).encapsulated:
            raise UnsupportedError(
                self.path, f"Pixel Data has undefined length but {self.transfer_syntax.name} is not a compressed syntax"
            )
        data = self._map_range(pixel.value_offset, self.file_size - pixel.value_offset)
        layout = encapsulated.scan_items(self.path, data)
        self._pixel_bytes = data[: layout.end]
        spans = encapsulated.index_frames(
            self.path, data, layout, geometry.number_of_frames, self._extended_offsets()
        )
        spans = spans[: geometry.number_of_frames]
        if not layout.complete:
            self.warnings.append(
                f"the compressed Pixel Data is cut short by the end of the file: {len(spans)} frame(s) found"
            )
        if not spans:
            raise TruncatedFileError(self.path, "the compressed Pixel Data holds no complete frame")
        if len(spans) < geometry.number_of_frames:
            self.warnings.append(
                f"Number of Frames is {geometry.number_of_frames} but only {len(spans)} frame(s) were found"
            )
        self._spans = spans
        self._num_frames = len(spans)
        self._required_size = pixel.value_offset + layout.end
        self.mapped_elements.append(MappedElement(pixel.tag, pixel.keyword, pixel.vr, pixel.value_offset, layout.end))
        self._attach_pixel_value(pixel, self._pixel_bytes)
        self._decoder = _decoder_for(self.path, self.transfer_syntax)
        options = self._pixel_options(pixel, 1)
        options.pop("extended_offsets", None)
        self._decode_options = options
        return pixel.value_offset + layout.end

    def _extended_offsets(self) -> tuple[list[int], list[int]] | None:
        if "ExtendedOffsetTable" not in self.dataset or "ExtendedOffsetTableLengths" not in self.dataset:
            return None
        tables = []
        for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            value = self.dataset[keyword].value
            raw = value.read() if hasattr(value, "read") else bytes(value or b"")
            if hasattr(value, "seek"):
                value.seek(0)
            tables.append(np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<u8").tolist())
        if not tables[0]:
            return None
        return tables[0], tables[1]

    def _attach_pixel_value(self, pixel: header.PixelElement, data: np.ndarray) -> None:
        value = MappedValue(data, pixel.value_offset)
        if self._dataset is None:
            self._pixel_value = value  # the element is made when the dataset is parsed
        else:
            self._dataset._dict[pydicom.tag.Tag(pixel.tag)] = _pixel_data_element(pixel, value)
        self.mapped_elements[-1] = MappedElement(
            pixel.tag, pixel.keyword, pixel.vr, pixel.value_offset, int(data.shape[0]), value
        )

    def _pixel_options(self, pixel: header.PixelElement, frames: int) -> dict[str, Any]:
        # The decoder gets the values read_geometry checked, not the raw elements
        # (pydicom's as_pixel_options fails on an empty Number of Frames, say).
        geometry = self.geometry
        assert geometry is not None
        options: dict[str, Any] = dict(
            rows=geometry.rows,
            columns=geometry.columns,
            samples_per_pixel=geometry.samples_per_pixel,
            bits_allocated=geometry.bits_allocated,
            bits_stored=geometry.bits_stored,
            pixel_representation=geometry.pixel_representation,
            photometric_interpretation=geometry.photometric_interpretation,
        )
        if geometry.samples_per_pixel > 1:
            options["planar_configuration"] = geometry.planar_configuration
        options.update(
            transfer_syntax_uid=self.transfer_syntax,
            pixel_keyword=pixel.keyword,
            pixel_vr=pixel.vr,
            number_of_frames=frames,
        )
        return options

    def _open_in_memory(self) -> None:
        """Deflated files cannot be mapped: read them whole through pydicom."""
        try:
            dataset = header.read_whole(self.path)  # dcmread would walk a zeroed tail element by element
            geometry = None
            stored = 0
            if "PixelData" in dataset:
                encapsulated = _syntax_flags(self.transfer_syntax).encapsulated
                geometry = read_geometry(self.path, dataset, "PixelData", encapsulated)
                stored = len(dataset.PixelData or b"")
        except DicomError:
            raise
        except Exception as exc:
            raise NotDicomError(self.path, f"cannot read the deflated dataset: {exc}") from exc
        self.dataset = dataset
        self.geometry = geometry
        self._in_memory = True
        self._num_frames = self._complete_frames_in_memory(geometry, stored)
        self.warnings.append("deflated transfer syntax: the dataset was read into memory, not mapped")

    def _complete_frames_in_memory(self, geometry: PixelGeometry | None, stored: int) -> int:
        """Number of Frames checked against the Pixel Data read, as for mapped files."""
        if geometry is None:
            return 0
        frames = geometry.complete_native_frames(stored)
        if frames == 0:
            raise TruncatedFileError(
                self.path,
                f"PixelData declares {geometry.number_of_frames} frame(s) of {geometry.frame_nbytes} bytes "
                f"but holds only {stored} bytes: not even one frame is complete",
            )
        if frames < geometry.number_of_frames:
            self.warnings.append(
                f"PixelData declares {geometry.number_of_frames} frames of {geometry.frame_nbytes} bytes but holds "
                f"{stored} bytes: showing the {frames} complete frame(s)"
            )
        return frames


def _identity_of(fd: int) -> tuple[int, int]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class SyntaxFlags(NamedTuple):
    implicit_vr: bool
    little_endian: bool
    encapsulated: bool


@functools.lru_cache(maxsize=64)
def _syntax_flags(syntax: pydicom.uid.UID) -> SyntaxFlags:
    """A transfer syntax's encoding, looked up once (pydicom's UID properties each cost ~0.5 us)."""
    return SyntaxFlags(syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_encapsulated)


_DECODERS: dict[str, Any] = {}
"""Available decoders by transfer syntax (looking one up and checking its plugins costs ~40 us)."""


def _decoder_for(path: str, syntax: pydicom.uid.UID):
    decoder = _DECODERS.get(syntax)
    if decoder is not None:
        return decoder
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise UnsupportedError(path, f"the transfer syntax {syntax.name} ({syntax}) is not supported") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin installed"
        raise UnsupportedError(path, f"no decoder available for {syntax.name}: {missing}")
    _DECODERS[syntax] = decoder
    return decoder


def _pixel_data_element(pixel: header.PixelElement, value: MappedValue) -> DataElement:
    """The pixel data element of the dataset, its value mapped."""
    element = DataElement(pixel.tag, pixel.vr, b"", is_undefined_length=pixel.length is None)
    element._value = value
    return element


def _recover_journal(path: str):
    """Roll back an interrupted save before anything reads the file.

    The journal module is imported only when a journal exists: most opens
    find none, and the import costs milliseconds.
    """
    directory, name = os.path.split(path)
    # os.access, not os.path.lexists: no FileNotFoundError raised and caught on every open (~8 us)
    if not os.access(os.path.join(directory, f".{name}.cinemap-journal"), os.F_OK, follow_symlinks=False):
        return None
    from viewer.model.editing import journal

    return journal.recover(path)
