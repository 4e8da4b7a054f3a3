"""Frame-accurate decoding of a video stream from its nearest key picture.

:class:`GopDecoder` owns one FFmpeg decoder (a PyAV ``CodecContext``) and
feeds it packets read in place (:class:`~viewer.model.frames.video_io.FragmentTable`)
at the offsets the :class:`~viewer.model.frames.video_index.PacketIndex`
found. Each packet is tagged with its decode-order number (its ``pts``);
the decoder hands frames back in display order with those tags.

Numbering pictures without timestamps
-------------------------------------
At a random-access point every picture before it in decode order is shown
before every picture from it on (the standards require it of IRAP/IDR
pictures; MPEG-2 and H.264 encoders keep it at GOP starts). So the pictures
shown at positions ``[0, B)`` are exactly the packets ``[0, B)``: in a
continuous decode, **the first output whose tag is at least key B is frame
B**. That anchors the numbering wherever a run of decoding crosses a key,
and checks it wherever the run was already anchored.

A run starting at a key K whose GOP is closed (IDR, closed MPEG-2 GOP, or
packet 0) is anchored at once: its first output is frame K. An open GOP's
leading pictures reference the GOP before and are skipped by the decoder
when it starts at K; how many (``lead``) is learned the first time a run
starts there, by anchoring at the next key crossed (or at the end of the
stream). Later runs skip outputs until the key's own picture, which is
frame ``K + lead``; the leading frames themselves are decoded by a run from
the key before (two GOPs, as for any open-GOP seek).

Decoded frames (still YUV, as FFmpeg returns them) of the current and
recent GOPs are kept, bounded in bytes, so that stepping backwards inside a
GOP converts a kept frame instead of decoding again, and crossing back into
the previous GOP decodes that GOP once, never from the start of the stream.
Not thread-safe: :class:`~viewer.model.frames.video.VideoSource` serialises
calls.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from viewer.model.errors import DicomError, UnsupportedError, converted_errors
from viewer.model.frames.video_codec import VideoCodec, require_av
from viewer.model.frames.video_index import PacketIndex
from viewer.model.frames.video_io import FragmentTable

MIN_HELD_FRAMES = 8
"""Frames kept whatever the byte budget (the one asked for must survive its own step)."""
_ATTEMPTS = 4


class GopDecoder:
    """Decode frame k of a stream, from the nearest key picture, keeping recent frames.

    Parameters
    ----------
    path : str
        The file (for error messages).
    codec : VideoCodec
        Which FFmpeg decoder to use.
    index : PacketIndex
        Packet offsets and key pictures (may still be filling).
    table : FragmentTable
        Reads the packets' bytes.
    hold_bytes : int
        Budget of the decoded frames kept (YUV) for stepping back.
    threads : int
        FFmpeg decoder threads (0: one per core).
    """

    def __init__(self, path: str, codec: VideoCodec, index: PacketIndex, table: FragmentTable, *,
                 hold_bytes: int, threads: int = 0) -> None:
        self.path = path
        self._codec = codec
        self._index = index
        self._table = table
        self._av = require_av(path)
        self._hold_bytes = hold_bytes
        self._threads = threads
        self._context: Any = None
        self._leads: dict[int, int] = {}  # open key -> leading pictures skipped when decoding starts there
        self._unusable: set[int] = set()  # keys where the numbering could not be verified
        self._held: OrderedDict[int, Any] = OrderedDict()
        self._held_bytes = 0
        self._run_start: int | None = None
        self._finished = True
        self._next_packet = 0
        self._next_display: int | None = None
        self._await_tag: int | None = None
        self._await_display: int | None = None
        self._pending: list[Any] = []  # outputs not numbered yet (None: dropped for memory)
        self._pending_bytes = 0
        self._pending_dropped = 0
        self._last_crossed = 0
        #: Statistics (tests and benchmarks): key packets runs started at, packets fed.
        self.run_starts: list[int] = []
        self.packets_fed = 0

    # --------------------------------------------------------------- public
    def decode_to(self, index: int) -> Any:
        """The decoded frame `index` (an ``av.VideoFrame``, display order).

        Raises
        ------
        DicomError
            If the stream holds fewer frames, or cannot be decoded.
        """
        for _ in range(_ATTEMPTS):
            frame = self._held.get(index)
            if frame is not None:
                self._held.move_to_end(index)
                return frame
            start = self._choose_start(index)
            if not self._can_continue(index, start):
                self._begin(start)
            while index not in self._held and not self._finished and (
                self._next_display is None or self._next_display <= index
            ):
                self._step()
            if index in self._held:
                return self._held[index]
        raise UnsupportedError(self.path, f"video frame {index} could not be decoded from the stream")

    def kept(self, index: int) -> Any:
        """Frame `index` if it is among the kept decoded frames, else None."""
        return self._held.get(index)

    def lead_of(self, key: int) -> int | None:
        """Leading pictures skipped when decoding starts at `key` (0: closed GOP; None: not learned yet)."""
        if key == 0 or self._index.is_closed(key):
            return 0
        return self._leads.get(key)

    def close(self) -> None:
        """Drop the decoder and the kept frames."""
        context, self._context = self._context, None
        if context is not None:
            # Freeing a frame-threaded FFmpeg decoder in the middle of a stream
            # hangs (its threads still hold pictures); flushed, it frees at once.
            context.flush_buffers()
        self._held.clear()
        self._clear_pending()
        self._held_bytes = 0
        self._finished = True

    # ------------------------------------------------------------ choosing
    def _choose_start(self, index: int) -> int:
        known = self._index.wait_for(index + 1)
        if known <= index:
            raise UnsupportedError(
                self.path, f"frame {index} is not in the video stream, which holds {known} picture(s)"
            )
        key = self._usable_key_at_or_before(index)
        lead = self.lead_of(key)
        if lead and index < key + lead:  # a leading picture: decode it from the GOP before
            previous = self._index.key_before(key)
            while previous is not None and previous in self._unusable:
                previous = self._index.key_before(previous)
            key = previous if previous is not None else 0
        return key

    def _usable_key_at_or_before(self, index: int) -> int:
        key = self._index.key_at_or_before(index)
        while key in self._unusable and key > 0:
            key = self._index.key_before(key) or 0
        return key

    def _can_continue(self, index: int, start: int) -> bool:
        if self._finished or self._run_start is None:
            return False
        if self._next_display is None:  # still learning this run's numbering
            return self._run_start == start
        return start <= self._next_display <= index

    # ------------------------------------------------------------- running
    def _begin(self, key: int) -> None:
        context = self._ensure_context(key)
        context.flush_buffers()
        self.run_starts.append(key)
        self._run_start = key
        self._finished = False
        self._next_packet = key
        self._clear_pending()
        self._last_crossed = key
        lead = self.lead_of(key)
        self._next_display = key if lead == 0 else None
        self._await_tag = None if lead == 0 else key
        self._await_display = None if lead is None or lead == 0 else key + lead

    def _ensure_context(self, key: int) -> Any:
        if self._context is not None:
            return self._context
        context = self._av.CodecContext.create(self._codec.decoder, "r")
        context.thread_type = "AUTO"
        context.thread_count = self._threads
        if key != 0:
            # Parameter sets (SPS/PPS, MPEG-2 sequence header) may be sent only
            # once, at the start: let the decoder read them from packet 0.
            offset, length = self._index.packet_span(0)
            self._decode(self._packet(self._table.read(offset, length), -1), context)
        self._context = context
        return context

    def _packet(self, data: bytes, tag: int) -> Any:
        packet = self._av.Packet(data)
        packet.pts = packet.dts = tag
        return packet

    def _decode(self, packet: Any, context: Any | None = None) -> list[Any]:
        with converted_errors(self.path, f"the {self._codec.family} decoder failed", UnsupportedError):
            decoded = (context or self._context).decode(packet)  # FFmpeg reports damaged data as exceptions
        return decoded

    def _step(self) -> None:
        """Feed one packet (or, after the last, drain the decoder) and number what comes out."""
        known = self._index.wait_for(self._next_packet + 1)
        if known > self._next_packet:
            offset, length = self._index.packet_span(self._next_packet)
            frames = self._decode(self._packet(self._table.read(offset, length), self._next_packet))
            self._next_packet += 1
            self.packets_fed += 1
        else:
            frames = self._decode(None)
            self._finished = True
        for frame in frames:
            if self._run_start is None:
                break
            self._accept(frame)
        if self._finished and self._run_start is not None and self._next_display is None:
            # The last GOP crossed no key: its last output is the stream's last picture.
            if self._await_tag is not None or not self._anchor(known):
                self._abandon(self._run_start)

    def _accept(self, frame: Any) -> None:
        tag = frame.pts
        if tag is None or tag < self._run_start:
            return  # the priming packet, or a frame without its tag
        if tag > self._last_crossed:
            crossed = self._index.keys_between(self._last_crossed, tag)
            if crossed:
                self._last_crossed = crossed[-1]
                self._unusable.update(crossed[1:])  # two keys crossed by one picture: not random-access points
                if not self._cross(crossed[0]):
                    return
        if self._await_tag is not None:
            if tag != self._await_tag:
                return  # a leading picture of the start key, which needs the GOP before
            self._await_tag = None
            self._next_display = self._await_display
        if self._next_display is None:
            self._pending.append(frame)
            self._pending_bytes += _frame_bytes(frame)
            self._bound_pending()
        else:
            self._hold(self._next_display, frame)
            self._next_display += 1

    def _cross(self, key: int) -> bool:
        """The output being numbered is the first at or after `key`: it is frame `key`."""
        if self._await_tag is not None:
            return self._abandon(self._run_start)  # the start key's own picture came after the next key
        if self._next_display is None:
            return self._anchor(key)
        if self._next_display != key:
            self._unusable.add(key)
            return self._abandon(self._run_start)
        return True

    def _anchor(self, display: int) -> bool:
        """Number the pending outputs so that the next one is frame `display`."""
        first = display - len(self._pending)
        assert self._run_start is not None
        lead = first - self._run_start
        if lead < 0:
            return self._abandon(self._run_start)
        self._leads[self._run_start] = lead
        for offset, frame in enumerate(self._pending):
            if frame is not None:
                self._hold(first + offset, frame)
        self._clear_pending()
        self._next_display = display
        return True

    def _abandon(self, key: int | None) -> bool:
        """The numbering did not check out: never start at `key` again, drop this run's frames."""
        if key:
            self._unusable.add(key)
        self._held.clear()
        self._held_bytes = 0
        self._clear_pending()
        self._finished = True
        self._run_start = None
        return False

    def _clear_pending(self) -> None:
        self._pending = []
        self._pending_bytes = 0
        self._pending_dropped = 0

    # -------------------------------------------------------------- keeping
    def _hold(self, display: int, frame: Any) -> None:
        old = self._held.pop(display, None)
        if old is not None:
            self._held_bytes -= _frame_bytes(old)
        self._held[display] = frame
        self._held_bytes += _frame_bytes(frame)
        while self._held_bytes > self._hold_bytes and len(self._held) > MIN_HELD_FRAMES:
            _, evicted = self._held.popitem(last=False)
            self._held_bytes -= _frame_bytes(evicted)

    def _bound_pending(self) -> None:
        """Unnumbered outputs beyond the budget keep their place but not their pixels (oldest first)."""
        while self._pending_bytes > self._hold_bytes and len(self._pending) - self._pending_dropped > MIN_HELD_FRAMES:
            frame = self._pending[self._pending_dropped]
            self._pending[self._pending_dropped] = None
            self._pending_dropped += 1
            self._pending_bytes -= _frame_bytes(frame)


def _frame_bytes(frame: Any) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


def check_decodable(path: str, codec: VideoCodec) -> None:
    """Raise :class:`DicomError` if PyAV lacks the decoder for `codec`."""
    av = require_av(path)
    try:
        av.codec.Codec(codec.decoder, "r")
    except Exception as exc:
        raise DicomError(path, f"FFmpeg in this PyAV build has no {codec.decoder} decoder ({exc})") from exc
