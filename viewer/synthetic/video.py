"""Writer of synthetic DICOM video files: MPEG-2, H.264 and HEVC, in bounded memory.

Frames are painted (:func:`video_frame`), encoded with the encoders in
PyAV's wheels (``mpeg2video``, ``libx264``, ``libx265``) and written as the
encoder hands packets out: the elementary stream (what DICOM holds, PS3.5
8.2.5-8.2.8) goes straight into the items of an encapsulated Pixel Data
element, so a one-hour stream is never held in memory.

* Non-fragmentable syntaxes hold the stream in one fragment, whose item
  length is patched in at the end.
* Fragmentable syntaxes (``...100.1`` etc.) may split it into fragments of
  at most ``fragment_bytes`` (even lengths, so only the last fragment is
  padded), itemised with pydicom's :func:`~pydicom.encaps.itemize_fragment`.
* The Basic Offset Table is empty, or (``basic_offset_table=True``) holds
  the one offset of the one encapsulated "frame", the stream (0).

Each frame shows its own index as a 24-bit code of black and white
16 x 16 blocks in its top rows (:func:`frame_index_of` reads it back from a
decoded frame) over a moving colour gradient.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import itemize_fragment
from pydicom.uid import generate_uid
from pydicom.valuerep import format_number_as_ds

from viewer.model.frames.video_codec import codec_for
from viewer.synthetic.dataset import encode_header, file_meta, new_instance

__all__ = ["FRAGMENTABLE", "VIDEO_SOP_CLASS", "VideoFile", "frame_index_of", "video_frame", "write_video"]

VIDEO_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.4.1"  # Video Photographic Image Storage
FRAGMENTABLE = frozenset({
    "1.2.840.10008.1.2.4.100.1", "1.2.840.10008.1.2.4.101.1", "1.2.840.10008.1.2.4.102.1",
    "1.2.840.10008.1.2.4.103.1", "1.2.840.10008.1.2.4.104.1", "1.2.840.10008.1.2.4.105.1",
    "1.2.840.10008.1.2.4.106.1",
})
HEVC_MAIN10 = "1.2.840.10008.1.2.4.108"
BLOCK = 16
CODE_BITS = 24
MAX_FRAGMENT = 0xFFFFFFFE

_PIXEL_DATA_HEADER = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF)
_SEQUENCE_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@dataclass(frozen=True)
class VideoFile:
    """What :func:`write_video` wrote.

    Attributes
    ----------
    path : pathlib.Path
    transfer_syntax : str
    frames : int
        Pictures encoded (= Number of Frames).
    value_offset : int
        File offset of the Pixel Data value (its Basic Offset Table item).
    fragments : int
    stream_bytes : int
        Length of the elementary stream (without padding).
    """

    path: pathlib.Path
    transfer_syntax: str
    frames: int
    value_offset: int
    fragments: int
    stream_bytes: int


# ------------------------------------------------------------------ frames
def video_frame(index: int, rows: int, columns: int) -> np.ndarray:
    """Frame `index`: RGB ``uint8`` (rows, columns, 3), its index coded in blocks at the top."""
    if rows < 3 * BLOCK or columns < 8 * BLOCK:
        raise ValueError(f"frames must be at least {8 * BLOCK} x {3 * BLOCK} to carry their index")
    y = np.arange(rows, dtype=np.int32)[:, None]
    x = np.arange(columns, dtype=np.int32)[None, :]
    frame = np.empty((rows, columns, 3), np.uint8)
    frame[..., 0] = (x + 3 * index) % 256
    frame[..., 1] = (y * 2 + 5 * index) % 256
    frame[..., 2] = ((x + y) // 2 + 7 * index) % 256
    per_row = columns // BLOCK
    for bit in range(CODE_BITS):
        top, left = (bit // per_row) * BLOCK, (bit % per_row) * BLOCK
        frame[top : top + BLOCK, left : left + BLOCK] = 255 if (index >> bit) & 1 else 0
    return frame


def frame_index_of(frame: np.ndarray) -> int:
    """The index a decoded :func:`video_frame` carries (block means, so lossy coding does not matter)."""
    per_row = frame.shape[1] // BLOCK
    index = 0
    for bit in range(CODE_BITS):
        top, left = (bit // per_row) * BLOCK, (bit % per_row) * BLOCK
        block = frame[top + 4 : top + BLOCK - 4, left + 4 : left + BLOCK - 4]
        if float(block.mean()) > 127.5:
            index |= 1 << bit
    return index


# ----------------------------------------------------------------- encoder
def _encoder(transfer_syntax: str, rows: int, columns: int, fps: float, gop_frames: int,
             b_frames: int | None, open_gop: bool, options: dict[str, str] | None) -> Any:
    import av

    codec = codec_for("", transfer_syntax)
    context = av.CodecContext.create(codec.encoder, "w")
    assert isinstance(context, av.VideoCodecContext)  # the encoder of a video codec
    context.width, context.height = columns, rows
    rate = Fraction(fps).limit_denominator(1001)
    context.framerate = rate
    context.time_base = 1 / rate
    context.gop_size = gop_frames
    context.pix_fmt = "yuv420p10le" if transfer_syntax == HEVC_MAIN10 else "yuv420p"
    settings: dict[str, str] = {}
    if codec.family == "mpeg2":
        context.bit_rate = max(2_000_000, int(rows * columns * float(rate)))
        context.max_b_frames = 2 if b_frames is None else b_frames
        if not open_gop:
            # FFmpeg closes MPEG-2 GOPs only without scene-change key frames.
            context.flags |= av.codec.context.Flags.closed_gop
            settings["sc_threshold"] = "1000000000"
    elif codec.family == "h264":
        settings = {"preset": "veryfast", "crf": "20", "profile": "high",
                    "x264-params": f"scenecut=0:open-gop={int(open_gop)}"
                                   + ("" if b_frames is None else f":bframes={b_frames}")}
    else:
        params = f"log-level=error:scenecut=0:keyint={gop_frames}:min-keyint={gop_frames}:open-gop={int(open_gop)}"
        if b_frames is not None:
            params += f":bframes={b_frames}"
        settings = {"preset": "ultrafast", "crf": "24", "x265-params": params}
        if transfer_syntax == HEVC_MAIN10:
            settings["profile"] = "main10"
    settings.update(options or {})
    context.options = settings
    return context


# ----------------------------------------------------------------- dataset
def _dataset(transfer_syntax: str, frames: int, rows: int, columns: int, fps: float) -> Dataset:
    now = datetime.datetime.now()
    ds = new_instance(VIDEO_SOP_CLASS, now)
    ds.Modality = "XC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.BodyPartExamined = "HEART"  # unpaired: Laterality (2C) not required
    ds.Manufacturer = "Cinemap"
    ds.ManufacturerModelName = "Cinemap synthetic video writer"
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_14496_10" if codec_for("", transfer_syntax).family == "h264" else (
        "ISO_13818_2" if codec_for("", transfer_syntax).family == "mpeg2" else "ISO_23008_2")
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ten_bit = transfer_syntax == HEVC_MAIN10
    ds.BitsAllocated = 16 if ten_bit else 8
    ds.BitsStored = 10 if ten_bit else 8
    ds.HighBit = 9 if ten_bit else 7
    ds.PixelRepresentation = 0
    frame_time = 1000.0 / fps
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = format_number_as_ds(frame_time)
    ds.CineRate = max(1, round(fps))
    ds.RecommendedDisplayFrameRate = max(1, round(fps))
    ds.StartTrim = 1
    ds.StopTrim = frames
    ds.ActualFrameDuration = max(1, round(frame_time))
    ds.PreferredPlaybackSequencing = 0
    ds.AcquisitionContextSequence = []
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "80891009", "SCT", "Heart"
    ds.AnatomicRegionSequence = [region]
    return ds


# ------------------------------------------------------------------ writer
class _FragmentWriter:
    """Streams packets into fragment items: one patched item, or items of at most `fragment_bytes`."""

    def __init__(self, handle, fragment_bytes: int | None) -> None:
        self._handle = handle
        self._limit = fragment_bytes
        self._buffer = bytearray()
        self._single_header: int | None = None
        self._single_length = 0
        self.fragments = 0
        self.stream_bytes = 0
        if fragment_bytes is None:
            self._single_header = handle.tell()
            handle.write(itemize_fragment(b""))  # length patched in by close()

    def write(self, data: bytes) -> None:
        self.stream_bytes += len(data)
        limit = self._limit
        if limit is None:  # one item, its length patched in by close()
            self._handle.write(data)
            self._single_length += len(data)
            if self._single_length > MAX_FRAGMENT:
                raise ValueError("the stream passes 4 GiB: use a fragmentable transfer syntax and fragment_bytes")
            return
        self._buffer += data
        while len(self._buffer) >= limit:
            self._emit(bytes(self._buffer[:limit]))
            del self._buffer[:limit]

    def _emit(self, fragment: bytes) -> None:
        if len(fragment) % 2:
            fragment += b"\x00"
        self._handle.write(itemize_fragment(fragment))
        self.fragments += 1

    def close(self) -> None:
        if self._single_header is None:
            if self._buffer:
                self._emit(bytes(self._buffer))
            return
        if self._single_length % 2:
            self._handle.write(b"\x00")
            self._single_length += 1
        end = self._handle.tell()
        self._handle.seek(self._single_header + 4)
        self._handle.write(struct.pack("<I", self._single_length))
        self._handle.seek(end)
        self.fragments = 1


def write_video(
    path: str | os.PathLike[str], frames: int, *, transfer_syntax: str = "1.2.840.10008.1.2.4.102",
    rows: int = 96, columns: int = 128, fps: float = 30.0, gop_frames: int | None = None,
    b_frames: int | None = None, open_gop: bool = False, fragment_bytes: int | None = None,
    basic_offset_table: bool = False, encoder_options: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoFile:
    """Write a DICOM video file of `frames` synthetic frames.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (replaced if it exists).
    frames : int
        Number of frames.
    transfer_syntax : str, optional
        A video transfer syntax (MPEG-2, H.264, HEVC; ``.1`` variants to fragment).
    rows, columns : int, optional
        Frame size (at least 48 x 128; even).
    fps : float, optional
        Frame rate (Frame Time, Cine Rate and the stream's own).
    gop_frames : int, optional
        Distance between key frames (default: one second).
    b_frames : int, optional
        B-frames between references (the encoder's default if None).
    open_gop : bool, optional
        Open GOPs (leading pictures reference the GOP before).
    fragment_bytes : int, optional
        Split the stream into fragments of this many bytes (even; fragmentable syntaxes only).
    basic_offset_table : bool, optional
        Write a one-entry Basic Offset Table instead of an empty one.
    encoder_options : dict, optional
        Extra FFmpeg encoder options.
    progress : callable, optional
        ``progress(done, total)`` every few hundred frames.

    Returns
    -------
    VideoFile
    """
    transfer_syntax = str(transfer_syntax)
    if fragment_bytes is not None and (transfer_syntax not in FRAGMENTABLE or fragment_bytes < 2 or fragment_bytes % 2):
        raise ValueError("fragment_bytes must be even and needs a fragmentable (.1) transfer syntax")
    if frames < 1 or rows % 2 or columns % 2:
        raise ValueError("frames must be positive and rows, columns even")
    gop = gop_frames or max(1, round(fps))
    encoder = _encoder(transfer_syntax, rows, columns, fps, gop, b_frames, open_gop, encoder_options)
    dataset = _dataset(transfer_syntax, frames, rows, columns, fps)
    dataset.file_meta = file_meta(dataset, transfer_syntax)
    path = pathlib.Path(path)
    with open(path, "wb") as handle:
        handle.write(encode_header(dataset))
        handle.write(_PIXEL_DATA_HEADER)
        value_offset = handle.tell()
        handle.write(itemize_fragment(struct.pack("<I", 0) if basic_offset_table else b""))
        writer = _FragmentWriter(handle, fragment_bytes)
        _encode_all(encoder, writer, frames, rows, columns, progress)
        writer.close()
        handle.write(_SEQUENCE_DELIMITER)
    return VideoFile(path, transfer_syntax, frames, value_offset, writer.fragments, writer.stream_bytes)


def _encode_all(encoder: Any, writer: _FragmentWriter, frames: int, rows: int, columns: int,
                progress: Callable[[int, int], None] | None) -> None:
    import av

    for index in range(frames):
        picture = av.VideoFrame.from_ndarray(video_frame(index, rows, columns), format="rgb24")
        picture.pts = index
        for packet in encoder.encode(picture):
            writer.write(bytes(packet))
        if progress is not None and (index % 256 == 0 or index == frames - 1):
            progress(index + 1, frames)
    for packet in encoder.encode(None):
        writer.write(bytes(packet))
