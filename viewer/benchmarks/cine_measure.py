"""Worker side of ``cinemap bench --cine``: one decoder thread, the floor of each case (see :mod:`.cine`)."""

from __future__ import annotations

import statistics
import time
from typing import Any


def measure_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: the fastest plugin decoding the file's frames in turn in this thread (reduced at ``factor``),
    and the shared pool's rate on the same machine at the same time."""
    from viewer.model import open_document

    factor = int(spec.get("factor", 1))
    with open_document(spec["path"]) as document:
        decoding = document.decoding
        decoder = decoding.decoder
        index = getattr(document.source, "index")  # the compressed source's frame index
        frames = [index.frame_bytes(k) for k in range(min(16, document.num_frames))]
        decode = (lambda data: decoder.decode(data)) if factor == 1 else \
            (lambda data: decoder.decode_reduced(data, factor))
        decode(frames[0])  # imports and first-call costs out of the figure
        times: list[float] = []
        deadline = time.perf_counter() + float(spec.get("seconds", 2.0))
        while time.perf_counter() < deadline or len(times) < len(frames):
            data = frames[len(times) % len(frames)]
            started = time.perf_counter()
            decode(data)
            times.append(time.perf_counter() - started)
        decode_ms = 1000 * statistics.median(times)
        return {"plugin": decoder.plugin, "factor": factor, "decode_ms": decode_ms, "decodes": len(times),
                "workers": decoding.workers, "pool_fps": _pool_rate(document, factor, decode_ms, spec)}


def _pool_rate(document, factor: int, decode_ms: float, spec: dict[str, Any]) -> float:
    """Frames per second the shared decode pool gives here now, every frame queued at once.

    What the machine's free cores allow the viewer at most: the viewer's
    rate against it says what the viewer itself costs.
    """
    decoding = document.decoding
    workers = decoding.workers
    decoding.warm_up()
    for future in [decoding.request(k, factor) for k in range(2 * workers)]:  # processes started and primed
        future.result()
    wanted = max(4 * workers, int(float(spec.get("seconds", 2.0)) * 1000 / decode_ms * workers))
    frames = range(2 * workers, min(document.num_frames, 2 * workers + wanted))
    started = time.perf_counter()
    for future in [decoding.request(k, factor, float(k)) for k in frames]:
        future.result()
    return len(frames) / (time.perf_counter() - started)
