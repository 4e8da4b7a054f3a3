"""The application's decode pools: one of threads, one of processes, made on first use.

Every document that decodes off the calling thread shares them, so a
viewer that opens file after file starts its decoder processes once (each
imports numpy and pydicom: a few hundred milliseconds) and never runs more
decodes at once than the machine has cores for. Keys in a shared pool
start with their owner (see :class:`viewer.model.frames.requests.FrameRequests`),
so that documents never join or cancel each other's decodes.

A pool is shut down at interpreter exit (:class:`~viewer.model.codecs.pool.DecodePool`
registers itself), or by :func:`shutdown_pools`.
"""

from __future__ import annotations

import threading

from viewer.model.codecs.pool import DecodePool, default_workers
from viewer.model.platform.process import usable_cpus

__all__ = ["pool_for", "process_workers", "processes_running", "shutdown_pools", "start_processes_in_background", "thread_workers"]

_pools: dict[bool, DecodePool] = {}
_lock = threading.Lock()


def thread_workers() -> int:
    """Decode threads for GIL-free plugins (Pillow's JPEG): the cores left after the UI thread, at least one."""
    return default_workers()


def process_workers() -> int:
    """Decoder processes for plugins that hold the GIL (JPEG 2000, JPEG-LS, JPEG Lossless, RLE).

    One per usable core: a child decoding in another process costs the UI
    thread nothing while it waits, and the UI's own work per frame shown
    (a few milliseconds) is small next to a decode such a plugin takes
    (30-150 ms); measured in ``cinemap bench --cine``, where two processes
    on two cores play a JPEG 2000 cine at about twice the rate of one.
    """
    return max(1, usable_cpus())


def pool_for(releases_gil: bool) -> DecodePool:
    """The shared pool for a decoder: threads if it releases the GIL, processes otherwise.

    Parameters
    ----------
    releases_gil : bool
        :attr:`FrameDecoder.releases_gil <viewer.model.codecs.decoder.FrameDecoder.releases_gil>`.
    """
    with _lock:
        pool = _pools.get(releases_gil)
        if pool is None or pool.closed:
            pool = _pools[releases_gil] = DecodePool(thread_workers() if releases_gil else process_workers())
        return pool


def processes_running() -> bool:
    """True if the shared pool's decoder processes run (so a GIL-holding decode can go there)."""
    with _lock:
        pool = _pools.get(False)
    return pool is not None and not pool.closed and bool(pool.process_ids)


def start_processes_in_background(decoder=None) -> None:
    """Start the decoder processes on the pool's threads, so that the first decodes do not wait for them.

    Called when a document whose plugin holds the GIL opens in the viewer;
    spawning takes a few hundred milliseconds the UI thread must not wait for.
    With `decoder`, they import its plugin too.
    """
    pool_for(False).start_processes(wait=False, decoder=decoder)


def shutdown_pools(wait: bool = True) -> None:
    """Shut the shared pools down (queued decodes are cancelled; the next :func:`pool_for` makes new ones)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait)
