"""Where each picture of a video stream lies, found in the background without decoding.

:class:`PacketIndex` runs FFmpeg's raw demuxer and parser (through PyAV)
over the stream on a helper thread: the parser splits the elementary stream
into one packet per picture, in decode order, and flags the random-access
(key) pictures; nothing is decoded. The index keeps, per packet, only its
byte offset in the stream (8 bytes; a one-hour 30 fps stream is 108,000
packets, under 1 MiB), plus the list of key packets and which of them start
a closed GOP (:func:`~viewer.model.frames.video_codec.key_is_closed`).

Elementary streams carry no timestamps a demuxer can trust (H.264 and HEVC
Annex B streams have none at all), so pictures are numbered by packet
order; :class:`~viewer.model.frames.video_decode.GopDecoder` checks that
numbering against the decoder's output order.

Callers wait on :meth:`PacketIndex.wait_for` for the packets they need:
the first frame needs only the first few packets, never the whole scan.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from typing import Any

from viewer.model.errors import DicomError, UnsupportedError
from viewer.model.frames.video_codec import VideoCodec, key_is_closed, require_av
from viewer.model.frames.video_io import FragmentTable, StreamFile

_NOTIFY_EVERY = 16  # packets between wake-ups of waiting readers
# FFmpeg reads up to 5 MB at open to guess the stream's parameters (and
# decodes a picture for them): a few seconds of HD video before the first
# packet. The index needs none of it; the parameters come from the first
# key picture, well within this.
_PROBE_OPTIONS = {"probesize": str(1 << 16), "analyzeduration": "1", "fpsprobesize": "0"}


class PacketIndex:
    """Packet offsets and key pictures of one stream, filled by a background scan.

    Parameters
    ----------
    path : str
        The file (for error messages).
    table : FragmentTable
        The stream's fragments.
    codec : VideoCodec
        Which demuxer to run.
    start : bool
        Start the scan thread now (tests may start it later with :meth:`start`).
    """

    def __init__(self, path: str, table: FragmentTable, codec: VideoCodec, start: bool = True) -> None:
        self.path = path
        self._table = table
        self._codec = codec
        self._offsets = array("q")
        self._keys = array("q")
        self._closed_keys: set[int] = set()
        self._end = 0  # stream offset just past the last packet found
        self.done = False
        self.error: DicomError | None = None
        self.stream_info: dict[str, Any] = {}
        self._stop = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # ------------------------------------------------------------- the scan
    def start(self) -> None:
        """Start the scan thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._scan, name="cinemap-video-index", daemon=True)
            self._thread.start()

    def _scan(self) -> None:
        try:
            av = require_av(self.path)
            with av.open(StreamFile(self._table), format=self._codec.demuxer, options=_PROBE_OPTIONS) as container:
                if not container.streams.video:
                    raise UnsupportedError(self.path, f"no {self._codec.family} video found in the Pixel Data")
                stream = container.streams.video[0]
                self._describe(stream)
                for packet in container.demux(stream):
                    if self._stop:
                        return
                    if packet.size:
                        self._add(packet)
        except DicomError as exc:
            self.error = exc
        except Exception as exc:  # FFmpeg's errors: a stream it cannot parse
            self.error = UnsupportedError(self.path, f"cannot read the {self._codec.family} video stream: {exc}")
        finally:
            with self._changed:
                self.done = True
                self._changed.notify_all()

    def _describe(self, stream: Any) -> None:
        context = stream.codec_context
        # The raw demuxers report 25 fps unless told otherwise: the decoder's
        # rate (from the SPS timing info or the MPEG-2 sequence header) is the stream's own.
        rate = context.framerate or stream.guessed_rate
        self.stream_info = {
            "codec": context.name,
            "codec_long_name": context.codec.long_name,
            "profile": context.profile,
            "width": context.width,
            "height": context.height,
            "pixel_format": context.pix_fmt,
            "stream_frame_rate": float(rate) if rate else None,
            "b_frames": bool(getattr(context, "has_b_frames", False)),
        }

    def _add(self, packet: Any) -> None:
        position = packet.pos if packet.pos is not None and packet.pos >= 0 else self._end
        closed = packet.is_keyframe and key_is_closed(self._codec, bytes(memoryview(packet)[:4096]))
        with self._changed:
            index = len(self._offsets)
            self._offsets.append(position)
            self._end = position + packet.size
            if packet.is_keyframe or index == 0:
                self._keys.append(index)
                if closed or index == 0:
                    self._closed_keys.add(index)
            if index % _NOTIFY_EVERY == 0 or packet.is_keyframe:
                self._changed.notify_all()

    def close(self) -> None:
        """Stop the scan (waits for the thread to notice)."""
        self._stop = True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    # -------------------------------------------------------------- queries
    @property
    def count(self) -> int:
        """Packets found so far."""
        return len(self._offsets)

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return self._offsets.itemsize * len(self._offsets) + self._keys.itemsize * len(self._keys)

    def wait_for(self, count: int, timeout: float | None = None) -> int:
        """Wait until `count` packets are known or the scan ended; returns the packets known.

        Raises
        ------
        DicomError
            If the scan failed before reaching `count` packets.
        """
        with self._changed:
            self._changed.wait_for(lambda: len(self._offsets) >= count or self.done, timeout)
            if len(self._offsets) < count and self.error is not None:
                raise self.error
            return len(self._offsets)

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait for the whole scan; True if it finished."""
        with self._changed:
            return self._changed.wait_for(lambda: self.done, timeout)

    def packet_span(self, index: int) -> tuple[int, int]:
        """(stream offset, length) of packet `index`, which must be known."""
        with self._changed:
            start = self._offsets[index]
            end = self._offsets[index + 1] if index + 1 < len(self._offsets) else self._end
        return start, end - start

    def key_at_or_before(self, index: int) -> int:
        """The last key packet at or before packet `index` (packet 0 counts as one)."""
        with self._changed:
            position = bisect.bisect_right(self._keys, index) - 1
            return self._keys[max(position, 0)] if self._keys else 0

    def keys_between(self, low: int, high: int) -> list[int]:
        """Key packets ``k`` with ``low < k <= high``, among those found."""
        with self._changed:
            first = bisect.bisect_right(self._keys, low)
            last = bisect.bisect_right(self._keys, high)
            return list(self._keys[first:last])

    def key_before(self, key: int) -> int | None:
        """The key packet before key `key`, or None."""
        with self._changed:
            position = bisect.bisect_left(self._keys, key) - 1
            return self._keys[position] if position >= 0 else None

    def is_closed(self, key: int) -> bool:
        """True if key packet `key` starts a closed GOP (packet 0 always does)."""
        return key in self._closed_keys

    def keys(self) -> list[int]:
        """Key packets found so far."""
        with self._changed:
            return list(self._keys)
