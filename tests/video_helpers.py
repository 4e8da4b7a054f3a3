"""Helpers for the video tests: synthetic files, their reference decode, a source over them."""

from __future__ import annotations

import io
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from viewer.model.frames.video import VideoSource
from viewer.model.platform.positional import pread_into
from viewer.model.frames.video_codec import codec_for

ROWS, COLUMNS = 96, 128


def stream_of(path: str | os.PathLike[str]) -> bytes:
    """The whole bitstream as pydicom reassembles it (one encapsulated "frame")."""
    import pydicom
    from pydicom.encaps import generate_frames

    dataset = pydicom.dcmread(path)
    (stream,) = generate_frames(dataset.PixelData, number_of_frames=1)
    return stream


@lru_cache(maxsize=8)
def _reference(path: str, mtime_ns: int, transfer_syntax: str) -> tuple[np.ndarray, ...]:
    import av

    codec = codec_for(path, transfer_syntax)
    with av.open(io.BytesIO(stream_of(path)), format=codec.demuxer) as container:
        return tuple(frame.to_ndarray(format="rgb24") for frame in container.decode(video=0))


def reference_frames(path: str | os.PathLike[str], transfer_syntax: str) -> tuple[np.ndarray, ...]:
    """PyAV's own sequential decode of the file's stream, ``to_ndarray(format="rgb24")``."""
    path = os.fspath(path)
    return _reference(path, os.stat(path).st_mtime_ns, str(transfer_syntax))


class CountingReader:
    """A positional-read callable over a file that counts bytes and can hold back the index thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self.bytes_read = 0
        self.bytes_by_thread: dict[str, int] = {}
        self.index_gate = threading.Event()
        self.index_gate.set()
        self.limit: int | None = None  # reads past this offset wait for index_gate
        self._lock = threading.Lock()

    def __call__(self, offset: int, length: int) -> bytes:
        name = threading.current_thread().name
        if self.limit is not None and offset + length > self.limit:
            assert self.index_gate.wait(60), "the gate was never opened"
        with self._lock:
            self.bytes_read += length
            self.bytes_by_thread[name] = self.bytes_by_thread.get(name, 0) + length
        buffer = bytearray(length)
        count = pread_into(self._fd, buffer, offset)
        return bytes(buffer[:count])

    def close(self) -> None:
        os.close(self._fd)


def open_source(path: Path, transfer_syntax: str, frames: int, reader=None, **options) -> tuple[VideoSource, object]:
    """A VideoSource over a synthetic file written by :func:`viewer.synthetic.video.write_video`."""
    import pydicom

    reader = reader or CountingReader(path)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    value_offset = _pixel_value_offset(path)
    source = VideoSource(
        str(path), reader, value_offset, reader.size, transfer_syntax, num_frames=options.pop("num_frames", frames),
        rows=int(header.Rows), columns=int(header.Columns), frame_time_ms=float(header.FrameTime), **options,
    )
    return source, reader


def _pixel_value_offset(path: Path) -> int:
    data = Path(path).read_bytes()[:1 << 16]
    position = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    assert position > 0
    return position + 12
