"""Choosing a document's frame source, once, from its header and how its file may be read.

=====================================  ===============================
pixel data                             source
=====================================  ===============================
deflated (read whole at open)          :class:`~.compressed.InMemory`
MPEG-2, H.264, HEVC video               :class:`~.video.VideoSource`
encapsulated                           :class:`~.encapsulated.EncapsulatedFrames`
native, values pydicom converts        :class:`~.native.ConvertedNative`
native, file mapped under a lease      :class:`~.native.MappedNative`
native, anything else                  :class:`~.native.ReadNative`
=====================================  ===============================
"""

from __future__ import annotations

import numpy as np

from viewer.model.codecs.decoder import FrameDecoder
from viewer.model.dicom.file_header import FileHeader
from viewer.model.dicom.frame_index import FrameIndex, has_end_markers
from viewer.model.frames.base import FrameSource
from viewer.model.frames.compressed import InMemory
from viewer.model.frames.encapsulated import EncapsulatedFrames, disk_cache_opener
from viewer.model.frames.decoding import decoder_for
from viewer.model.dicom.native_layout import NativeLayout
from viewer.model.frames.native import ConvertedNative, MappedNative, ReadNative
from viewer.model.frames.video import VideoSource
from viewer.model.frames.video_codec import is_video_syntax
from viewer.model.display.metadata import frame_time_ms as header_frame_time_ms
from viewer.model.storage.diskcache import DiskFrameCache
from viewer.model.platform import advice
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.guard import FileGuard

DiskSettings = tuple[str, int] | None
"""(folder, capacity in bytes) of the decoded-frame disk cache, or None for none."""

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
    if is_video_syntax(header.transfer_syntax):
        return np.dtype(np.uint8)  # decoded to RGB, whatever the stream's bit depth
    if header.flags.little_endian or header.is_encapsulated or geometry.bits_allocated <= 8 or header.in_memory:
        return geometry.dtype
    return geometry.dtype.newbyteorder(">")


def native_layout(header: FileHeader) -> NativeLayout:
    assert header.geometry is not None and header.pixel is not None
    return NativeLayout.of(header.geometry, header.pixel.value_offset, header.flags.little_endian)


def choose_source(header: FileHeader, guard: FileGuard, memory: FrameCache, disk: DiskSettings) -> FrameSource | None:
    """The frame source for an opened file (None if it has no pixel data).

    Sets ``guard.required_size`` (the file must stay at least that long).
    `disk` is where compressed frames may be kept once decoded.
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
    if header.is_encapsulated and is_video_syntax(header.transfer_syntax):
        return _video(header, guard, memory, disk)
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
    if mapping is not None and guard.mapping_protected:
        return MappedNative(header.opened, mapping, layout, extent.frames)
    return ReadNative(header.opened, layout, extent.frames)


def _encapsulated(
    header: FileHeader, guard: FileGuard, memory: FrameCache, disk: DiskSettings, dtype: np.dtype,
) -> EncapsulatedFrames:
    """Frames located lazily by a FrameIndex (no scan at open where a table exists), read with positional reads."""
    pixel, geometry = header.pixel, header.geometry
    assert pixel is not None and geometry is not None
    opened = header.opened

    def scan_advice(walking: bool) -> None:
        if opened.fd is not None:
            advice.set_random_access(opened.fd, walking)

    index = FrameIndex(
        header.path, opened.read, pixel.value_offset, opened.size, geometry.number_of_frames,
        little_endian=header.flags.little_endian, extended=header.extended_offsets(),
        frame_markers=has_end_markers(header.transfer_syntax), scan_advice=scan_advice,
    )
    guard.required_size = pixel.value_offset + 8  # the end is known once the index is complete
    header.attach_pixel_value(opened.window(pixel.value_offset, opened.size - pixel.value_offset),
                              opened.size - pixel.value_offset)
    decoder_for(header.path, header.transfer_syntax)  # UnsupportedError now if no plugin can decode it
    decoder = FrameDecoder(header.path, header.transfer_syntax, header.pixel_options(1))
    opener = None
    if disk is not None:
        folder, capacity = disk
        opener = disk_cache_opener(folder, capacity, header.path, opened.size, opened.mtime_ns, index.num_frames)
    return EncapsulatedFrames(index, geometry.frame_shape, dtype, decoder.decode, check=guard.check, cache=memory,
                              open_disk_cache=opener, decoder=decoder)


def _video(header: FileHeader, guard: FileGuard, memory: FrameCache, disk: DiskSettings) -> VideoSource:
    """One MPEG-2 / H.264 / HEVC bitstream, indexed in the background and decoded from the nearest key frame."""
    pixel, geometry = header.pixel, header.geometry
    assert pixel is not None and geometry is not None
    opened = header.opened
    guard.required_size = pixel.value_offset + 8
    header.attach_pixel_value(opened.window(pixel.value_offset, opened.size - pixel.value_offset),
                              opened.size - pixel.value_offset)
    frame_shape = (geometry.rows, geometry.columns, 3)
    disk_cache = None
    if disk is not None:
        folder, capacity = disk
        disk_cache = DiskFrameCache.open(folder, header.path, opened.size, opened.mtime_ns,
                                         geometry.number_of_frames, frame_shape, np.uint8, capacity)
    return VideoSource(
        header.path, opened.read, pixel.value_offset, opened.size, header.transfer_syntax,
        num_frames=geometry.number_of_frames, rows=geometry.rows, columns=geometry.columns,
        frame_time_ms=header_frame_time_ms(header.dataset), cache=memory, disk_cache=disk_cache, check=guard.check,
    )


__all__ = ["choose_source", "frame_dtype", "native_layout", "needs_pydicom"]
