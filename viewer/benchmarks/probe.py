"""Small measuring tools used inside the worker processes.

Memory comes from :func:`viewer.model.platform.memory.process_memory`
(``RssAnon``: anonymous memory now; ``VmHWM``: peak resident set, file pages
included; ``/proc/self/status`` on Linux). Eviction uses
``posix_fadvise(POSIX_FADV_DONTNEED)`` on the whole file: the kernel drops
only pages no process has mapped, so each method first unmaps its own pages
(``madvise(MADV_DONTNEED)``) -- dropping the system's caches is not allowed.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any, Callable, Iterable

from viewer.model.platform.advice import drop_file_cache
from viewer.model.platform.memory import process_memory
from viewer.model.platform.positional import pread_exact


def memory_kib() -> dict[str, int]:
    """``RssAnon``, ``VmHWM`` and ``VmRSS`` of this process in KiB (those the platform reports).

    The names are Linux's; the figures come from
    :func:`viewer.model.platform.memory.process_memory` on every platform
    (anonymous, peak resident and resident memory).
    """
    use = process_memory()
    figures = {"RssAnon": use.anonymous, "VmHWM": use.peak_resident, "VmRSS": use.resident}
    return {name: value // 1024 for name, value in figures.items() if value is not None}


class MemoryTracker:
    """Samples anonymous memory at phase boundaries and keeps the peak.

    A sample is taken by :meth:`sample` (outside timed code); the baseline
    is the first sample, taken when the tracker is created.
    """

    def __init__(self) -> None:
        self.baseline = memory_kib().get("RssAnon", 0)
        self.peak = self.baseline
        self.samples: dict[str, int] = {}

    def sample(self, label: str) -> None:
        """Record anonymous memory now under `label` and update the peak."""
        anon = memory_kib().get("RssAnon", 0)
        self.samples[label] = anon
        self.peak = max(self.peak, anon)

    def watch(self, label: str, action: Callable[[], None], interval: float = 0.001) -> None:
        """Run `action` while a thread samples anonymous memory every `interval` seconds.

        Catches transient peaks (a buffer freed before the phase ends) that
        :meth:`sample` misses; use it only around untimed code, since the
        sampling thread competes for the interpreter.
        """
        stop = threading.Event()
        peak = [self.peak]

        def sampler() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], memory_kib().get("RssAnon", 0))
                stop.wait(interval)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            action()
        finally:
            stop.set()
            thread.join()
        self.sample(label)
        self.samples[label + " (peak while running)"] = peak[0]
        self.peak = max(self.peak, peak[0])

    def as_json(self) -> dict[str, Any]:
        """Baseline, peak and added peak in MB, with the per-phase samples."""
        high_water = memory_kib().get("VmHWM", 0)
        return {
            "anon_baseline_mb": round(self.baseline / 1024, 2),
            "anon_peak_mb": round(self.peak / 1024, 2),
            "anon_added_peak_mb": round((self.peak - self.baseline) / 1024, 2),
            "vm_hwm_mb": round(high_water / 1024, 2),
            "samples_mb": {label: round(value / 1024, 2) for label, value in self.samples.items()},
        }


def evict_file(path: str) -> None:
    """Drop the file's unmapped pages from the page cache (``POSIX_FADV_DONTNEED``; a no-op where absent)."""
    drop_file_cache(path)


def warm_ranges(path: str, ranges: Iterable[tuple[int, int]]) -> None:
    """Read byte ranges with ``pread`` so that they sit in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, length in ranges:
            try:
                pread_exact(fd, length, offset)
            except EOFError:
                pass
    finally:
        os.close(fd)


def summarize_ms(seconds: list[float]) -> dict[str, Any]:
    """Mean, median, min, max and count of durations, in milliseconds."""
    if not seconds:
        return {"count": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "mean_ms": round(statistics.fmean(ms), 4),
        "median_ms": round(statistics.median(ms), 4),
        "min_ms": round(min(ms), 4),
        "max_ms": round(max(ms), 4),
    }


def time_each(items: Iterable[Any], action: Callable[[Any], object],
              before: Callable[[Any], object] | None = None) -> list[float]:
    """Duration of ``action(item)`` for each item; ``before(item)`` runs untimed."""
    durations = []
    for item in items:
        if before is not None:
            before(item)
        started = time.perf_counter()
        action(item)
        durations.append(time.perf_counter() - started)
    return durations


def warm_up_pydicom() -> None:
    """Load pydicom's lazily built tables, so no method pays them in a timing."""
    import io

    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = "1.2.3.4"
    dataset.PatientName = "Warm^Up"
    dataset.Rows = dataset.Columns = 1
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    pydicom.dcmread(buffer)
