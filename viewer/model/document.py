"""The document: one DICOM file, opened in constant time and memory.

Design
------
* Opening parses only the header (:mod:`viewer.model.header`). The file is
  mapped once, read-only, with ``numpy.memmap``; every binary value above
  ``memmap_threshold`` and the pixel data are views into that mapping, never
  read up front. Every declared length is checked against the file size
  first, because touching a mapping past the end of a file kills the process
  with SIGBUS.
* Native pixel data is exposed as :attr:`Document.frames`, a zero-copy array
  ``(frames, rows, cols[, samples])`` over the mapping. :meth:`Document.frame`
  returns a view of it when pydicom would return the stored values as they
  are (little endian, no colour conversion, not 1-bit); otherwise it hands the
  mapped bytes to pydicom's own decoder for that one frame, so the result
  always equals ``pydicom.pixels.pixel_array(path, index=k)``.
* Encapsulated pixel data is indexed once (:mod:`viewer.model.encapsulated`);
  a frame is decoded on demand by pydicom's decoder from just its own bytes,
  and kept in a :class:`~viewer.model.cache.FrameCache` bounded in bytes.
* Before each frame fetch the file's size is checked with ``fstat`` so that a
  file truncated by another process gives :class:`FileChangedError`, not
  SIGBUS.
* Edits (read/write mode) live in :class:`viewer.model.edits.EditSession`:
  pending in memory, written only by a journaled save.
"""

from __future__ import annotations

import functools
import mmap
import os
import threading
import time
from typing import Any, NamedTuple

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder

from pydicom.dataelem import DataElement

from viewer.model import diskcache, display, encapsulated, fileaccess, functional_groups, header, lease, quickscan
from viewer.model.cache import FrameCache
from viewer.model.errors import (
    DicomError,
    FileChangedError,
    NotDicomError,
    TruncatedFileError,
    UnsupportedError,
)
from viewer.model.events import Signal
from viewer.model.geometry import PixelGeometry, read_geometry
from viewer.model.document_edit import EditingMixin
from viewer.model.document_guard import FileGuardMixin
from viewer.model.mapped import MappedElement, MappedValue

DEFAULT_MEMMAP_THRESHOLD = 1 << 20
DEFAULT_CACHE_BYTES = 256 << 20
SEQUENTIAL_READ_AHEAD_BYTES = 4 << 20
_COLOUR_CONVERTED = ("YBR_FULL", "YBR_FULL_422")


def open_document(
    path: str | os.PathLike[str],
    *,
    memmap_threshold: int = DEFAULT_MEMMAP_THRESHOLD,
    writable: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    file_access: str = fileaccess.AUTOMATIC,
    disk_cache_dir: str | os.PathLike[str] | None = None,
    disk_cache_bytes: int = 0,
) -> "Document":
    """Open a DICOM file, parsing its header and mapping its large values.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    memmap_threshold : int
        Binary values longer than this many bytes are memory-mapped instead of
        read (default 1 MiB).
    writable : bool
        Open in read/write mode (takes the edit lock); see
        :meth:`Document.set_writable`.
    cache_bytes : int
        Budget of the decoded-frame cache (compressed files).
    file_access : {"automatic", "memory-map", "read"}
        "automatic" maps the file except on network and FUSE file systems,
        where a failing page would be SIGBUS; there it reads with ``preadv``.
    disk_cache_dir, disk_cache_bytes : optional
        Keep decoded frames of compressed files in a scratch file there
        (:mod:`viewer.model.diskcache`), at most this many bytes in total.

    Returns
    -------
    Document
        Usable as a context manager; :meth:`Document.close` releases every
        mapping and handle.

    Raises
    ------
    DicomError
        (or a subclass) for anything wrong with the file, naming the file.
    """
    document = Document(
        os.fspath(path), memmap_threshold=memmap_threshold, cache_bytes=cache_bytes, file_access=file_access
    )
    if disk_cache_dir is not None and disk_cache_bytes > 0:
        document.disk_cache_settings = (os.fspath(disk_cache_dir), int(disk_cache_bytes))
    try:
        document._open()
        if writable:
            document.set_writable(True)
    except BaseException:
        document.close()
        raise
    return document


class Document(FileGuardMixin, EditingMixin):
    """One open DICOM file. Create it with :func:`open_document`.

    The file-change defences live in :mod:`viewer.model.document_guard` and
    the read/write mode and edits in :mod:`viewer.model.document_edit`.
    """

    def __init__(
        self, path: str, *, memmap_threshold: int, cache_bytes: int, file_access: str = fileaccess.AUTOMATIC
    ) -> None:
        self.path = path
        self.file_access = file_access  # as requested; resolved when opening
        self.file_access_reason = ""
        self.memmap_threshold = int(memmap_threshold)
        self._dataset: Dataset | None = None  # parsed on first use for plain files, else at open
        self._image_values: dict[str, int | str] | None = None  # the quick scan's Image Pixel values
        self._pixel_value: MappedValue | None = None  # until the dataset is parsed
        self.mapped_elements: list[MappedElement] = []
        self.warnings: list[str] = []
        self.recovery: Any = None
        self.file_size = 0
        self.open_seconds = 0.0
        self.transfer_syntax = pydicom.uid.ExplicitVRLittleEndian
        self.geometry: PixelGeometry | None = None
        self.pixel_element: header.PixelElement | None = None
        self.frames: np.ndarray | None = None
        self.frames_changed = Signal()  # emits a set of frame indices (or None: all)
        self.mode_changed = Signal()  # emits the new writable flag
        self.history_changed = Signal()  # undo/redo/dirty state changed
        self._fd: int | None = None
        self._mapping: np.memmap | None = None
        self._reader: fileaccess.PreadArray | None = None
        self._lease: lease.ReadLease | None = None
        self._changed_reason: str | None = None
        self._mtime_ns = 0
        self._pixel_bytes: np.ndarray | None = None
        self._spans: list[encapsulated.FrameSpan] = []
        self._num_frames = 0
        self._decoder = None
        self._decode_options: dict[str, Any] = {}
        self._cache = FrameCache(cache_bytes)
        self._required_size = 0
        self._identity: tuple[int, int] | None = None
        self._in_memory = False
        self._edits = None
        self._lock = None
        self._write_fd: int | None = None
        self._per_frame: functional_groups.PerFrameGroups | None = None
        self.disk_cache_settings: tuple[str, int] | None = None
        self._disk_cache: diskcache.DiskFrameCache | None = None
        self._disk_cache_tried = False
        self._last_index = -2
        self._converted: bool | None = None  # see _needs_pydicom
        self._state_lock = threading.RLock()

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
        # A named file object: pydicom reads deferred non-binary values by name.
        with open(self.path, "rb") as fileobj:
            if _identity_of(fileobj.fileno()) != self._identity:
                raise FileChangedError(self.path, "the file was replaced while being opened")
            dataset = header.parse_header(
                self.path, fileobj, self.memmap_threshold, frozenset({functional_groups.PER_FRAME_TAG})
            )
            if header.empty_dataset_like(dataset):
                raise NotDicomError(self.path, "not a DICOM file: no data elements could be read")
            self.dataset = dataset
            self.transfer_syntax = header.transfer_syntax_of(dataset)
            if header.is_deflated(dataset):
                self._open_in_memory()
            else:
                self._open_per_frame_groups(fileobj)
                self._open_mapped(fileobj)

    def _open_quick(self, quick: quickscan.QuickHeader) -> None:
        """A plain file (:mod:`viewer.model.quickscan`): frames now, the full header on first use."""
        self._image_values = quick.image
        self.transfer_syntax = quick.transfer_syntax
        self.pixel_element = quick.pixel
        self._open_native(quick.pixel)

    @property
    def dataset(self) -> Dataset:
        """The file's dataset: header elements, large values memory-mapped, Pixel Data included.

        For plain files (:mod:`viewer.model.quickscan`) pydicom parses the
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
                with open(self.path, "rb") as fileobj:
                    if _identity_of(fileobj.fileno()) != self._identity:
                        raise FileChangedError(self.path, "another file is now at its path")
                    dataset = header.parse_header(
                        self.path, fileobj, self.memmap_threshold, frozenset({functional_groups.PER_FRAME_TAG})
                    )
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

    def per_frame_groups(self, index: int) -> Dataset | None:
        """Frame `index`'s Per-frame Functional Groups item (parsed on demand), or None."""
        if self._per_frame is not None:
            return self._per_frame.item(index)
        groups = self.dataset.get("PerFrameFunctionalGroupsSequence")
        if groups and 0 <= index < len(groups):
            return groups[index]
        return None

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

    # -------------------------------------------------------------- properties
    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def num_frames(self) -> int:
        """Number of frames that can be shown (complete frames only)."""
        return self._num_frames

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: (rows, cols) or (rows, cols, samples)."""
        return self.geometry.frame_shape if self.geometry else ()

    @property
    def dtype(self) -> np.dtype | None:
        """dtype of :meth:`frame` results (big endian for big endian files, as pydicom)."""
        if self.geometry is None:
            return None
        little_endian = _syntax_flags(self.transfer_syntax).little_endian
        if little_endian or self.is_encapsulated or self.geometry.bits_allocated <= 8:
            return self.geometry.dtype
        return self.geometry.dtype.newbyteorder(">")

    @property
    def is_encapsulated(self) -> bool:
        return bool(self.pixel_element and self.pixel_element.length is None)

    @property
    def is_memmapped(self) -> bool:
        """True if the pixel data is mapped rather than read into memory."""
        return self._mapping is not None and self._pixel_bytes is not None

    @property
    def photometric_interpretation(self) -> str:
        return self.geometry.photometric_interpretation if self.geometry else ""

    @property
    def pixel_offset(self) -> int | None:
        """Offset of the first pixel data value byte in the file."""
        return self.pixel_element.value_offset if self.pixel_element else None

    @property
    def mapped_bytes(self) -> int:
        """Total length of the memory-mapped values."""
        return sum(element.length for element in self.mapped_elements)

    @property
    def frame_time_ms(self) -> float | None:
        """Milliseconds per frame from the file, or None."""
        return display.frame_time_ms(self.dataset)

    @property
    def _lazy_groups(self):
        return self._per_frame.item if self._per_frame is not None else None

    @property
    def window_presets(self) -> list[display.WindowPreset]:
        return display.window_presets(self.dataset, self._lazy_groups)

    @property
    def rescale_unit(self) -> str:
        return display.rescale_unit(self.dataset, self._lazy_groups)

    def rescale(self, index: int = 0) -> tuple[float, float]:
        """(slope, intercept) for frame `index` (per-frame functional groups aware)."""
        return display.rescale_for_frame(self.dataset, index, self._lazy_groups)

    @property
    def cache(self) -> FrameCache:
        return self._cache

    # ------------------------------------------------------------------ frames
    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as pydicom's ``pixel_array(path, index=index)`` returns it.

        For native little-endian data needing no conversion the result is a
        read-only view into the mapping (pending edits, if any, are applied
        to a copy).

        Raises
        ------
        IndexError
            If `index` is outside ``range(num_frames)``.
        DicomError
            If the frame cannot be decoded, or the file changed on disk.
        """
        index = self._check_index(index)
        edits = self._edits
        if edits is not None and edits.is_edited(index):
            stored = self._stored_frame(index)
            return self._from_stored(edits.render(index, stored))
        if self.frames is not None and not self._needs_pydicom():
            self._check_file()
            stored = self.frames[index]
            self._advise(index)
            return self._from_stored(stored)
        if self._reader is not None and self.pixel_element is not None and not self.is_encapsulated \
                and not self._needs_pydicom():
            return self._from_stored(self._read_native_frame(index))
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        self._check_file()
        disk = self._disk_cache
        frame = disk.get(index) if disk is not None else None
        if frame is None:
            frame = self._decode(index)
            disk = self._open_disk_cache(frame)
            if disk is not None:
                disk.put(index, frame)
        if self.is_encapsulated:
            self._cache.put(index, frame)
        return frame

    @property
    def disk_cache(self) -> diskcache.DiskFrameCache | None:
        """The decoded-frame scratch file, once a compressed frame was decoded (or None)."""
        return self._disk_cache

    def _open_disk_cache(self, decoded: np.ndarray) -> diskcache.DiskFrameCache | None:
        """Open the scratch file once, shaped like the first decoded frame."""
        with self._state_lock:
            if self._disk_cache_tried or not self.is_encapsulated or self.disk_cache_settings is None:
                return self._disk_cache
            self._disk_cache_tried = True
            folder, capacity = self.disk_cache_settings
            self._disk_cache = diskcache.DiskFrameCache.open(
                folder, self.path, self.file_size, self._mtime_ns, self._num_frames, decoded.shape, decoded.dtype,
                capacity,
            )
            return self._disk_cache

    def _check_index(self, index: int) -> int:
        if self.closed:
            raise ValueError("the document is closed")
        if self._num_frames == 0:
            raise UnsupportedError(self.path, "the file has no pixel data")
        index = int(index)
        if index < 0:
            index += self._num_frames
        if not 0 <= index < self._num_frames:
            raise IndexError(f"frame {index} is outside 0..{self._num_frames - 1}")
        return index

    def _needs_pydicom(self) -> bool:
        """True if pydicom would change stored values (1-bit, YBR, odd OW swap); fixed once opened."""
        needs = self._converted
        if needs is None:
            geometry = self.geometry
            assert geometry is not None
            needs = self._converted = (
                geometry.bits_allocated == 1
                or geometry.photometric_interpretation in _COLOUR_CONVERTED
                or (
                    geometry.bits_allocated == 8
                    and self.pixel_element is not None
                    and self.pixel_element.vr == "OW"
                    and not _syntax_flags(self.transfer_syntax).little_endian
                )
            )
        return needs

    def _stored_frame(self, index: int) -> np.ndarray:
        assert self.frames is not None
        self._check_file()
        return self.frames[index]

    def _read_native_frame(self, index: int) -> np.ndarray:
        """Read mode: one frame with ``preadv``, shaped like a row of :attr:`frames`."""
        geometry = self.geometry
        assert geometry is not None and self.pixel_element is not None
        start = self.pixel_element.value_offset + index * geometry.frame_nbytes
        data = fileaccess.read_exact(self.path, self._fd, start, geometry.frame_nbytes)
        dtype = geometry.dtype.newbyteorder("<" if _syntax_flags(self.transfer_syntax).little_endian else ">")
        flat = np.frombuffer(data, dtype=dtype)
        rows, cols, samples = geometry.rows, geometry.columns, geometry.samples_per_pixel
        if samples == 1:
            return flat.reshape(rows, cols)
        if geometry.planar_configuration == 0:
            return flat.reshape(rows, cols, samples)
        return flat.reshape(samples, rows, cols).transpose(1, 2, 0)

    def _from_stored(self, stored: np.ndarray) -> np.ndarray:
        """Stored values as pydicom returns them: a view unless unused high bits
        must be masked (unsigned) or sign-extended (signed), as pydicom does."""
        assert self.geometry is not None
        shift = self.geometry.unused_high_bits
        if not shift:
            return stored
        corrected = np.array(stored, copy=True)
        np.left_shift(corrected, shift, out=corrected)
        np.right_shift(corrected, shift, out=corrected)
        return corrected

    def _advise(self, index: int) -> None:
        """Ask the kernel to read frame `index` ahead (one request, not a fault per page).

        When frames are fetched in order, the next ~4 MiB are requested too,
        so sequential reads from a cold disk stream instead of stalling.
        """
        if self._mapping is None or self.geometry is None or self.pixel_element is None:
            return
        frame_nbytes = self.geometry.frame_nbytes
        start = self.pixel_element.value_offset + index * frame_nbytes
        length = frame_nbytes
        if index == self._last_index + 1:
            length += max(frame_nbytes, SEQUENTIAL_READ_AHEAD_BYTES)
        self._last_index = index
        self.advise_range(start, length, mmap.MADV_WILLNEED)

    def advise_range(self, start: int, length: int, advice: int) -> None:
        """``madvise`` a byte range of the file mapping (no-op where unsupported)."""
        raw = getattr(self._mapping, "_mmap", None)
        if raw is None or not hasattr(raw, "madvise"):
            return
        base = self._mapping.offset if self._mapping is not None else 0
        start -= base
        aligned = start - start % mmap.PAGESIZE
        try:
            raw.madvise(advice, aligned, min(length + start - aligned, len(raw) - aligned))
        except (OSError, ValueError):
            pass

    def _decode(self, index: int) -> np.ndarray:
        try:
            if self._in_memory:
                return pydicom.pixels.pixel_array(self.dataset, index=index, number_of_frames=self._num_frames)
            assert self._pixel_bytes is not None and self._decoder is not None
            if self.is_encapsulated:
                source = encapsulated.frame_bytes(self._pixel_bytes, self._spans[index])
                array, _ = self._decoder.as_array(source, index=0, **self._decode_options)
            elif self._mapping is None:
                array = self._decode_native_read_mode(index)
            else:
                array, _ = self._decoder.as_array(self._pixel_bytes, index=index, **self._decode_options)
            return array
        except DicomError:
            raise
        except MemoryError as exc:
            raise UnsupportedError(self.path, f"frame {index} is too large to decode in memory") from exc
        except Exception as exc:
            raise UnsupportedError(self.path, f"cannot decode frame {index}: {exc}") from exc
        except BaseException as exc:
            # Rust decoders (pylibjpeg-rle) report bad input as a PanicException,
            # which derives from BaseException, not Exception.
            if type(exc).__module__ != "pyo3_runtime":
                raise
            raise UnsupportedError(self.path, f"the decoder failed on frame {index}: {exc}") from exc

    def _decode_native_read_mode(self, index: int) -> np.ndarray:
        """Read mode, values pydicom converts: decode just this frame's bytes."""
        geometry = self.geometry
        assert geometry is not None and self.pixel_element is not None and self._decoder is not None
        if geometry.bits_allocated == 1 or geometry.frame_bits % 16:
            # Bit-packed or odd-length frames are not byte/word aligned: 1-bit data
            # is small, read it whole once.
            if not isinstance(self._pixel_bytes, np.ndarray):
                self._pixel_bytes = self._pixel_bytes[:]
            array, _ = self._decoder.as_array(self._pixel_bytes, index=index, **self._decode_options)
            return array
        start = self.pixel_element.value_offset + index * geometry.frame_nbytes
        data = fileaccess.read_exact(self.path, self._fd, start, geometry.frame_nbytes)
        options = dict(self._decode_options, number_of_frames=1)
        array, _ = self._decoder.as_array(bytes(data), index=0, **options)
        return array

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Release the mappings, the lock and the file handles (idempotent)."""
        self._leave_write_mode()
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._disk_cache is not None:
            self._disk_cache.close()
            self._disk_cache = None
        self._cache.clear()
        for element in self.mapped_elements:
            if element.value is not None:
                element.value.close()
        # Drop our references and let the mapping go with the last view: an
        # explicit mmap.close() unmaps the memory even while numpy views of it
        # (a frame a widget still paints) exist, and touching them is SIGSEGV.
        self.frames = None
        self._pixel_bytes = None
        self._per_frame = None
        self._reader = None
        self._mapping = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Document":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.num_frames} frame(s) {self.frame_shape}"
        return f"<Document {os.path.basename(self.path)!r} {state}>"


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
    from viewer.model import journal

    return journal.recover(path)
