"""A decoder process: decodes frames for one pool thread, handing pixels back in shared memory.

Plugins that hold the GIL while they decode (every one but Pillow's JPEG,
measured) would stall the UI thread for the whole frame if run on a thread:
130 ms for a 1024 x 1024 JPEG 2000 frame. So each pool thread that meets
one starts a child process (``spawn``: safe beside Qt's threads, and the
same on every platform) and sends it jobs over a pipe. The frame's bytes
and the decoded pixels pass through two
:class:`multiprocessing.shared_memory.SharedMemory` blocks that the thread
owns and reuses, and the pipe carries only a short message per frame (and
the decoder once per document), so nothing large is pickled.

A decoder that crashes the child (a C library on a malformed frame) costs
that frame, not the application: the thread reports it as a
:class:`~viewer.model.errors.DicomError` and starts a new child for the next job.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from viewer.model.errors import UnsupportedError

__all__ = ["DecoderProcess"]

_STOP_SECONDS = 5.0


class DecoderProcess:
    """One child process and the shared memory block its results come back in.

    Not thread-safe: one pool thread owns it.
    """

    def __init__(self) -> None:
        self._process: Any = None
        self._connection: Any = None  # a Connection (a PipeConnection on Windows)
        self._input: shared_memory.SharedMemory | None = None
        self._output: shared_memory.SharedMemory | None = None
        self._sent_decoder: Any = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.alive else None

    def start(self) -> None:
        """Start the child now (it takes a few hundred ms to import numpy and pydicom)."""
        if self.alive:
            return
        self._drop_process()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_child_main, args=(child,), name="cinemap-decoder", daemon=True)
        process.start()
        child.close()  # the parent's copy: EOF reaches the child when the parent's end closes
        self._process, self._connection = process, parent

    def prime(self, decoder) -> None:
        """Start the child and have it import `decoder`'s plugin now, not during the first frame.

        The first decode in a fresh child otherwise pays for importing
        pydicom and the plugin (about a second on a busy machine), which
        would also spoil the decode times playback plans with.
        """
        self.start()
        assert self._connection is not None
        try:
            self._connection.send((decoder, None))
            self._sent_decoder = decoder
            self._connection.recv()
        except (EOFError, OSError):
            self._drop_process()  # the first job says why, starting a new child

    def decode(self, decoder, data: bytes | bytearray | memoryview, factor: int,
               index: int | None) -> tuple[np.ndarray, int]:
        """Decode in the child: ``(array, actual factor)``, as ``decoder.decode_reduced`` gives.

        Raises
        ------
        DicomError
            If the frame cannot be decoded, or the child died decoding it.
        """
        self.start()
        assert self._connection is not None
        frame = memoryview(data).cast("B")
        source = self._block("_input", len(frame))
        _buffer(source)[:len(frame)] = frame
        needed = _frame_nbytes(decoder)
        for _ in range(2):
            target = self._block("_output", needed)
            # The decoder goes over the pipe only when it changes (once per
            # document); the frame's bytes go through shared memory.
            sent = None if decoder is self._sent_decoder else decoder
            try:
                self._connection.send((sent, source.name, len(frame), factor, index, target.name, target.size))
                self._sent_decoder = decoder
                reply = self._connection.recv()
            except (EOFError, OSError) as exc:
                self._drop_process()
                which = "the frame" if index is None else f"frame {index}"
                raise UnsupportedError(decoder.path, f"the decoder process stopped while decoding {which} "
                                                     f"({decoder.plugin}): {exc or 'it crashed'}") from None
            status = reply[0]
            if status == "ok":
                _, shape, dtype, actual = reply
                view = np.ndarray(shape, dtype=np.dtype(dtype), buffer=_buffer(target))
                array = view.copy()
                del view  # the block cannot be closed while a view holds its buffer
                return array, actual
            if status == "grow":
                needed = reply[1]
                continue
            _, path, problem = reply
            raise UnsupportedError(path, problem)
        raise UnsupportedError(decoder.path, "the decoded frame did not fit its shared memory")

    def _block(self, which: str, nbytes: int) -> shared_memory.SharedMemory:
        """The input or output block, replaced by a larger one when `nbytes` do not fit."""
        block = getattr(self, which)
        if block is None or block.size < nbytes:
            _free(block)
            # some headroom, so that slightly larger frames do not reallocate
            block = shared_memory.SharedMemory(create=True, size=max(nbytes + nbytes // 4, 4096))
            setattr(self, which, block)
        return block

    def close(self) -> None:
        """Stop the child (politely, then by force) and free the shared memory."""
        self._drop_process()
        _free(self._input)
        _free(self._output)
        self._input = self._output = None

    def _drop_process(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = self._sent_decoder = None
        if connection is not None:
            try:
                connection.send(None)
            except (OSError, BrokenPipeError):
                pass
            connection.close()
        if process is not None:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()



def _buffer(block: shared_memory.SharedMemory) -> memoryview:
    buffer = block.buf
    assert buffer is not None, "the shared memory block is closed"
    return buffer


def _free(block: shared_memory.SharedMemory | None) -> None:
    if block is not None:
        block.close()
        block.unlink()


def _frame_nbytes(decoder) -> int:
    options = decoder.options
    itemsize = max(1, -(-int(options.get("bits_allocated", 8)) // 8))
    return int(np.prod(decoder.frame_shape)) * itemsize


# --------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------


def _attach(name: str) -> shared_memory.SharedMemory:
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    # Before 3.13 attaching also registers the block with the resource
    # tracker that spawn shares with the parent; that is harmless (the
    # tracker keeps a set) and the parent unregisters it when it unlinks.
    return shared_memory.SharedMemory(name=name)


def _child_main(connection: multiprocessing.connection.Connection) -> None:
    """Decode jobs until told to stop or the parent goes away."""
    blocks: dict[str, shared_memory.SharedMemory] = {}
    decoder = None
    try:
        while True:
            try:
                job = connection.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            decoder = job[0] if job[0] is not None else decoder
            connection.send(_prime(decoder) if job[1] is None else _run(decoder, job[1:], blocks))
    finally:
        for block in blocks.values():
            block.close()


def _prime(decoder) -> tuple:
    """Import what decoding with `decoder` needs (pydicom, the plugins), before any frame."""
    try:
        decoder.prepare()
    except Exception:  # noqa: BLE001 -- the first frame will say what is wrong
        pass
    return ("primed",)


def _attached(blocks: dict[str, shared_memory.SharedMemory], name: str) -> shared_memory.SharedMemory:
    """The block called `name`, attached once; blocks the parent replaced are let go."""
    if name not in blocks:
        if len(blocks) >= 2:  # an input and an output: any other one was replaced
            for old in list(blocks):
                blocks.pop(old).close()
        blocks[name] = _attach(name)
    return blocks[name]


def _run(decoder, job: tuple, blocks: dict[str, shared_memory.SharedMemory]) -> tuple:
    from viewer.model.errors import DicomError

    source_name, length, factor, index, target_name, size = job
    data = bytes(_buffer(_attached(blocks, source_name))[:length])
    try:
        try:
            array, actual = decoder.decode_reduced(data, factor, index) if factor > 1 else (
                decoder.decode(data, index), 1)
        except DicomError:
            raise
        except BaseException as exc:  # noqa: BLE001 -- reported to the parent, never raised here
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise decoder.error(index, exc) from exc
    except DicomError as exc:
        return ("error", exc.path, exc.problem)
    array = np.ascontiguousarray(array)
    if array.nbytes > size:
        return ("grow", array.nbytes)
    target = np.ndarray(array.shape, dtype=array.dtype, buffer=_buffer(_attached(blocks, target_name)))
    target[...] = array
    del target
    return ("ok", array.shape, array.dtype.str, actual)
