"""Frames of a DICOM video (MPEG-2, H.264, HEVC), decoded on demand and frame-accurately.

How it fits together:

* :class:`~viewer.model.frames.video_io.FragmentTable` reads the bitstream in
  place from the Pixel Data fragments with the positional-read callable the
  document passes (no temporary copy, one fragment or many, with or
  without a Basic Offset Table);
* :class:`~viewer.model.frames.video_index.PacketIndex` finds every
  picture's packet and the key pictures on a background thread (FFmpeg's
  demuxer and parser, no decoding), starting at open and never waited for
  as a whole: frame k waits only for the packets up to k;
* :class:`~viewer.model.frames.video_decode.GopDecoder` decodes forward
  from the nearest key picture, numbers the output frames in display order,
  and keeps the recent GOPs' decoded frames (bounded) for stepping back;
* :class:`VideoSource` converts a decoded frame to RGB exactly as PyAV's
  ``VideoFrame.to_ndarray(format="rgb24")`` does, and keeps the result in
  the document's memory and disk caches.

Threading: any number of threads may call :meth:`VideoSource.frame` (the
view, the read-ahead worker). Cache hits take no lock; decoding is
serialised by one lock around the single decoder (one FFmpeg decoder
already uses every core with frame threads); the RGB conversion runs
outside it. The index thread only appends to the index.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import numpy as np

from viewer.model.display.metadata import frame_time_ms as header_frame_time_ms
from viewer.model.errors import DicomError, UnsupportedError, converted_errors
from viewer.model.frames.base import FrameSource
from viewer.model.frames.video_codec import EDIT_REFUSAL, codec_for, require_av
from viewer.model.frames.video_decode import GopDecoder, check_decodable
from viewer.model.frames.video_index import PacketIndex
from viewer.model.frames.video_io import FragmentTable, ReadAt
from viewer.model.storage.cache import FrameCache

DEFAULT_CACHE_BYTES = 256 << 20
"""Budget of the private RGB cache when the caller passes none."""
DEFAULT_HOLD_BYTES = 192 << 20
"""Budget of the decoded (YUV) frames kept for stepping back: two 1 s GOPs of 1080p at 30 fps."""


class VideoSource(FrameSource):
    """Frames of an encapsulated MPEG-2, H.264 or HEVC stream as RGB ``uint8`` (rows, columns, 3).

    Parameters
    ----------
    path : str
        The file (for error messages).
    read : callable
        ``read(offset, length) -> bytes``: positional read of the file (fewer
        bytes only at its end). Called from several threads at once.
    value_offset : int
        File offset of the Pixel Data value (its Basic Offset Table item).
    value_end : int
        File offset the value cannot pass (the file size).
    transfer_syntax : str
        One of the video transfer syntaxes
        (:data:`~viewer.model.frames.video_codec.VIDEO_SYNTAXES`).
    num_frames, rows, columns : int
        Number of Frames, Rows and Columns from the header.
    frame_time_ms : float, optional
        Frame Time (or 1000 / Cine Rate) from the header; without it the
        stream's own rate is used once the index thread has read it.
    cache : FrameCache, optional
        Memory cache of RGB frames (the document's); a private one of
        :data:`DEFAULT_CACHE_BYTES` if omitted.
    disk_cache : DiskFrameCache, optional
        Disk cache of RGB frames (shape ``(rows, columns, 3)``, ``uint8``).
    hold_bytes : int, optional
        Budget of decoded frames kept for stepping back (YUV).
    threads : int, optional
        FFmpeg decoder threads (0: one per core).
    check : callable, optional
        The document's file guard: raises
        :class:`~viewer.model.errors.FileChangedError` if the file changed on
        disk; called before every frame is served.

    The source owns `disk_cache` (closed with it); `cache` stays the caller's.

    Raises
    ------
    DicomError
        If the syntax is not a video syntax, PyAV or its decoder is missing,
        or the Pixel Data does not start like an encapsulated value.
    """

    zero_copy = False
    #: Why frames cannot be edited (the document shows it).
    edit_refusal = EDIT_REFUSAL

    def __init__(
        self, path: str, read: ReadAt, value_offset: int, value_end: int, transfer_syntax: str, *,
        num_frames: int, rows: int, columns: int, frame_time_ms: float | None = None,
        cache: FrameCache | None = None, disk_cache: Any = None, hold_bytes: int = DEFAULT_HOLD_BYTES,
        threads: int = 0, check: Callable[[], None] | None = None,
    ) -> None:
        if num_frames < 1 or rows < 1 or columns < 1:
            raise DicomError(path, f"a video needs frames, rows and columns; the header gives {num_frames}, "
                                   f"{rows} and {columns}")
        super().__init__(num_frames, (rows, columns, 3), np.uint8)
        self.path = path
        self.codec = codec_for(path, transfer_syntax)
        self.transfer_syntax = str(transfer_syntax)
        require_av(path)
        check_decodable(path, self.codec)
        self.description = f"{self.codec.family.upper()} video stream decoded by FFmpeg (PyAV)"
        self.warnings: list[str] = []
        self._header_frame_time_ms = frame_time_ms
        self._cache = cache if cache is not None else FrameCache(DEFAULT_CACHE_BYTES)
        self._own_cache = cache is None
        self._disk_cache = disk_cache
        self._check = check
        self.table = FragmentTable(path, read, value_offset, value_end)
        self.index = PacketIndex(path, self.table, self.codec)
        self._decoder = GopDecoder(path, self.codec, self.index, self.table, hold_bytes=hold_bytes, threads=threads)
        self._decode_lock = threading.Lock()
        self._converters = threading.local()
        self._closed = False

    @classmethod
    def from_dataset(cls, path: str, dataset: Any, read: ReadAt, value_offset: int, value_end: int,
                     transfer_syntax: str, **options: Any) -> "VideoSource":
        """A source from the parsed header (Number of Frames, Rows, Columns, Frame Time / Cine Rate).

        `options` are passed to the constructor (``cache``, ``disk_cache``, ...).
        """
        try:
            frames = int(dataset.get("NumberOfFrames") or 1)
            rows, columns = int(dataset.Rows), int(dataset.Columns)
        except (AttributeError, TypeError, ValueError) as exc:
            raise DicomError(path, f"the video's Rows, Columns or Number of Frames cannot be read: {exc}") from exc
        return cls(path, read, value_offset, value_end, transfer_syntax, num_frames=frames, rows=rows,
                   columns=columns, frame_time_ms=header_frame_time_ms(dataset), **options)

    # ------------------------------------------------------------ metadata
    @property
    def frame_time_ms(self) -> float | None:
        """Milliseconds per frame: the header's, else the stream's own once known, else None."""
        if self._header_frame_time_ms:
            return self._header_frame_time_ms
        rate = self.index.stream_info.get("stream_frame_rate")
        return 1000.0 / rate if rate else None

    @property
    def decoder(self) -> GopDecoder:
        """The decoder (statistics for tests and benchmarks)."""
        return self._decoder

    # -------------------------------------------------------------- frames
    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as RGB ``uint8`` (rows, columns, 3), read-only.

        Equal to the `index`-th frame of PyAV's sequential decode of the
        stream, converted with ``to_ndarray(format="rgb24")``.

        Raises
        ------
        DicomError
            If the stream holds fewer frames or cannot be decoded.
        """
        if self._closed:
            raise ValueError("the video source is closed")
        if self._check is not None:
            self._check()
        cached = self._cached(index)
        if cached is not None:
            return cached
        with self._decode_lock:
            cached = self._cached(index)
            if cached is not None:
                return cached
            decoded = self._decoder.decode_to(index)
        rgb = self._to_rgb(decoded)
        self._cache.put(index, rgb)
        if self._disk_cache is not None:
            self._disk_cache.put(index, rgb)
        return rgb

    def _cached(self, index: int) -> np.ndarray | None:
        frame = self._cache.get(index)
        if frame is not None or self._disk_cache is None:
            return frame
        frame = self._disk_cache.get(index)
        if frame is not None:
            self._cache.put(index, frame)
        return frame

    def _to_rgb(self, decoded: Any) -> np.ndarray:
        """``decoded.to_ndarray(format="rgb24")``, thread-safe and C-contiguous.

        ``VideoFrame.reformat`` keeps one converter (an ``SwsContext``) per
        frame object, which two threads converting the same kept frame would
        share; each thread gets its own converter of the same class instead.
        """
        rows, columns, _ = self.frame_shape
        options: dict[str, Any] = {"format": "rgb24"}
        if (decoded.height, decoded.width) != (rows, columns):
            self._warn_size(decoded)
            options.update(width=columns, height=rows)
        reformatter = getattr(self._converters, "reformatter", None)
        problem = f"cannot convert a {decoded.format.name} video frame to RGB"
        with converted_errors(self.path, problem, UnsupportedError):
            if reformatter is None:
                reformatter = self._converters.reformatter = require_av(self.path).video.reformatter.VideoReformatter()
            converted = np.ascontiguousarray(reformatter.reformat(decoded, **options).to_ndarray())
        return converted

    def _warn_size(self, decoded: Any) -> None:
        message = (f"the video stream's pictures are {decoded.width} x {decoded.height} but Rows and Columns say "
                   f"{self.frame_shape[1]} x {self.frame_shape[0]}: frames are scaled to the header's size")
        if message not in self.warnings:
            self.warnings.append(message)

    def prefetch(self, indices: Iterable[int]) -> None:
        """Decode these frames into the cache (call from a worker thread: decoding takes time).

        Playing forwards this keeps the decoder running ahead of the frame
        shown; stepping backwards it decodes the previous GOP while the user
        looks at this frame, so the next step back is a cache hit.
        """
        for index in indices:
            if self._cached(index) is None:
                self.frame(index)

    def invalidate(self, indices: Iterable[int] | None = None) -> None:
        """Forget cached frames (a changed video stream invalidates every decoded frame)."""
        if indices is not None:
            for index in indices:
                self._cache.discard(index)
            return
        self._cache.clear()

    def close(self) -> None:
        """Stop the index thread and drop the decoder and kept frames (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.index.close()
        with self._decode_lock:
            self._decoder.close()
        if self._own_cache:
            self._cache.clear()
        if self._disk_cache is not None:
            self._disk_cache.close()

    # ------------------------------------------------------------ describe
    def describe(self, timeout: float | None = None) -> dict[str, Any]:
        """Codec, profile, GOP structure and frame count, for ``cinemap info``.

        Waits up to `timeout` seconds (None: for ever) for the index thread
        to reach the end of the stream; ``index_complete`` says if it did.
        """
        complete = self.index.wait_done(timeout)
        keys = self.index.keys()
        pictures = self.index.count
        gaps = np.diff(np.asarray(keys + ([pictures] if complete else []), dtype=np.int64))
        info = dict(self.index.stream_info)
        info.update({
            "transfer_syntax": self.transfer_syntax,
            "family": self.codec.family,
            "frames_declared": self.num_frames,
            "pictures": pictures,
            "index_complete": complete,
            "key_frames": len(keys),
            "gop_length": int(gaps.max()) if gaps.size else None,
            "gop_length_min": int(gaps.min()) if gaps.size else None,
            "closed_gops": sum(1 for key in keys if self.index.is_closed(key)),
            "frame_time_ms": self.frame_time_ms,
            "fragments": self.table.fragments_found if complete else None,
            "basic_offset_table": self.table.basic_offset_table_bytes > 0,
            "index_bytes": self.index.nbytes,
        })
        if self.index.error is not None:
            info["error"] = self.index.error.problem
        return info


def describe_video(source: VideoSource, timeout: float | None = 60.0) -> dict[str, Any]:
    """``source.describe(timeout)``: the stream's codec, profile, GOP length and frame count."""
    return source.describe(timeout)
