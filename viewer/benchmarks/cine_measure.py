"""Worker side of ``cinemap bench --cine``: one decoder thread, the floor of each case (see :mod:`.cine`)."""

from __future__ import annotations

import statistics
import time
from typing import Any


def measure_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: the fastest plugin decoding the file's frames in turn in this thread (reduced at ``factor``)."""
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
        return {"plugin": decoder.plugin, "factor": factor, "decode_ms": 1000 * statistics.median(times),
                "decodes": len(times)}
