"""Decoding compressed frames: the fastest plugin, reduced decodes, a decode pool.

Qt-free. :class:`FrameDecoder` decodes one frame through pydicom with the
plugin measured fastest for its transfer syntax (:mod:`.choice`), at full
resolution (equal to pydicom's output with that plugin) or reduced for
display (:mod:`.reduced`). :class:`DecodePool` runs decodes off the calling
thread: on threads for plugins that release the GIL, in worker processes
with shared memory for those that do not (:mod:`.pool`).
"""

from viewer.model.codecs.decoder import FrameDecoder, as_encapsulated

__all__ = ["FrameDecoder", "as_encapsulated"]
