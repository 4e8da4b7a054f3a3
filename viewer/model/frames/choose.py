"""Choosing a document's frame source, once, from its header and how its file may be read.

=====================================  ===============================
pixel data                             source
=====================================  ===============================
deflated (read whole at open)          :class:`~.compressed.InMemory`
encapsulated                           :class:`~.compressed.Encapsulated`
native, values pydicom converts        :class:`~.native.ConvertedNative`
native, file mapped under a lease      :class:`~.native.MappedNative`
native, anything else                  :class:`~.native.ReadNative`
=====================================  ===============================
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from viewer.model.dicom import encapsulated
from viewer.model.dicom.file_header import FileHeader, read_trailing_elements
from viewer.model.errors import TruncatedFileError
from viewer.model.frames.base import FrameSource
from viewer.model.frames.compressed import DiskCacheSlot, Encapsulated, InMemory
from viewer.model.frames.decoding import decoder_for
from viewer.model.dicom.native_layout import NativeLayout
from viewer.model.frames.native import ConvertedNative, MappedNative, ReadNative
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.guard import FileGuard

_COLOUR_CONVERTED = ("YBR_FULL", "YBR_FULL_422")


def needs_pydicom(header: FileHeader) -> bool:
    """True if pydicom changes stored values on the way out (1-bit, YBR, odd big endian OW)."""
    geometry, pixel = header.geometry, header.pixel
    assert geometry is not None
    return (
        geometry.bits_allocated == 1
        or geometry.photometric_interpretation in _COLOUR_CONVERTED
        or (
            geometry.bits_allocated == 8
            and pixel is not None
            and pixel.vr == "OW"
            and not header.flags.little_endian
        )
    )


def frame_dtype(header: FileHeader) -> np.dtype | None:
    """dtype of frames as pydicom returns them (big endian for big endian native files)."""
    geometry = header.geometry
    if geometry is None:
        return None
    if header.flags.little_endian or header.is_encapsulated or geometry.bits_allocated <= 8 or header.in_memory:
        return geometry.dtype
    return geometry.dtype.newbyteorder(">")


def native_layout(header: FileHeader) -> NativeLayout:
    assert header.geometry is not None and header.pixel is not None
    return NativeLayout.of(header.geometry, header.pixel.value_offset, header.flags.little_endian)


def choose_source(
    header: FileHeader, guard: FileGuard, memory: FrameCache, disk: Callable[[int], DiskCacheSlot],
) -> FrameSource | None:
    """The frame source for an opened file (None if it has no pixel data).

    Sets ``guard.required_size`` (the file must stay at least that long).
    `disk(num_frames)` makes the disk cache slot of compressed data.
    """
    geometry = header.geometry
    if geometry is None:
        return None
    dtype = frame_dtype(header)
    assert dtype is not None
    if header.in_memory:
        return InMemory(header.path, header.dataset, header.in_memory_frames, geometry.frame_shape, dtype, memory)
    if header.pixel is None:
        return None
    if header.is_encapsulated:
        return _encapsulated(header, guard, memory, disk, dtype)
    extent = header.native_extent
    assert extent is not None
    guard.required_size = extent.required_size
    layout = native_layout(header)
    if needs_pydicom(header):
        decoder = decoder_for(header.path, header.transfer_syntax)
        value = header.mapped_elements[-1].value
        window = value.array if value is not None else header.opened.window(header.pixel.value_offset, 0)
        return ConvertedNative(
            header.opened, layout, extent.frames, geometry.frame_shape, dtype, decoder,
            header.pixel_options(extent.frames), window, geometry.frame_bits, geometry.bits_allocated,
        )
    mapping = header.opened.mapping  # read once: a lease break may drop it any moment
    if mapping is not None and guard.has_lease:
        return MappedNative(header.opened, mapping, layout, extent.frames)
    return ReadNative(header.opened, layout, extent.frames)


def _encapsulated(
    header: FileHeader, guard: FileGuard, memory: FrameCache, disk: Callable[[int], DiskCacheSlot], dtype: np.dtype,
) -> Encapsulated:
    pixel, geometry = header.pixel, header.geometry
    assert pixel is not None and geometry is not None
    opened = header.opened
    data = opened.window(pixel.value_offset, opened.size - pixel.value_offset)
    layout = encapsulated.scan_items(header.path, data)
    spans = encapsulated.index_frames(header.path, data, layout, geometry.number_of_frames, header.extended_offsets())
    spans = spans[: geometry.number_of_frames]
    if not layout.complete:
        header.warnings.append(
            f"the compressed Pixel Data is cut short by the end of the file: {len(spans)} frame(s) found"
        )
    if not spans:
        raise TruncatedFileError(header.path, "the compressed Pixel Data holds no complete frame")
    if len(spans) < geometry.number_of_frames:
        header.warnings.append(
            f"Number of Frames is {geometry.number_of_frames} but only {len(spans)} frame(s) were found"
        )
    guard.required_size = pixel.value_offset + layout.end
    header.attach_pixel_value(data.window(0, layout.end), layout.end)
    read_trailing_elements(header, pixel.value_offset + layout.end)
    decoder = decoder_for(header.path, header.transfer_syntax)
    options = header.pixel_options(1)

    def decode(frame_bytes: bytes, index: int) -> np.ndarray:
        array, _ = decoder.as_array(frame_bytes, index=0, **options)
        return array

    return Encapsulated(
        header.path, data, spans, geometry.frame_shape, dtype, decode, lambda: None, memory, disk(len(spans))
    )


__all__ = ["choose_source", "frame_dtype", "native_layout", "needs_pydicom"]
