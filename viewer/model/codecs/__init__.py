"""Decoding compressed frames: the fastest plugin, reduced decodes, a decode pool.

Qt-free. :class:`FrameDecoder` decodes one frame through pydicom with the
plugin measured fastest for its transfer syntax (:mod:`.choice`), at full
resolution (equal to pydicom's output with that plugin) or reduced for
display (:mod:`.reduced`). :class:`DecodePool` runs decodes off the calling
thread: on threads for plugins that release the GIL, in worker processes
with shared memory for those that do not (:mod:`.pool`). :func:`plan_decodes`
tells playback which frames to decode next (:mod:`.schedule`).
"""

from viewer.model.codecs.decoder import FrameDecoder, as_encapsulated
from viewer.model.codecs.pool import DecodedFrame, DecodePool, default_workers
from viewer.model.codecs.schedule import DecodeTimer, Playback, plan_decodes

__all__ = ["DecodePool", "DecodeTimer", "DecodedFrame", "FrameDecoder", "Playback", "as_encapsulated",
           "default_workers", "plan_decodes"]
