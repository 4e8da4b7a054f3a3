"""The process's memory use, from ``/proc`` (Linux), for the status bar and the benchmark.

No Qt here. On systems without ``/proc`` every figure is None.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryUse:
    """Bytes of resident memory and of anonymous (not file-backed) memory."""

    resident: int | None
    anonymous: int | None


def _read_kb_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with open(path, "rb") as file:
            for line in file:
                key, _, rest = line.partition(b":")
                name = key.decode("ascii", "replace").strip()
                if name in names and name not in found:
                    found[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def memory_use() -> MemoryUse:
    """Resident and anonymous memory of this process.

    ``status`` (VmRSS, RssAnon) comes from counters the kernel keeps, so it
    costs the same however much is mapped; ``smaps_rollup`` walks the page
    tables (8 ms with 2 GB of a file resident: half a frame at 60 fps), so it
    is only the fallback.
    """
    status = _read_kb_fields("/proc/self/status", ("VmRSS", "RssAnon"))
    if "VmRSS" in status and "RssAnon" in status:
        return MemoryUse(status["VmRSS"], status["RssAnon"])
    rollup = _read_kb_fields("/proc/self/smaps_rollup", ("Rss", "Anonymous"))
    return MemoryUse(rollup.get("Rss"), rollup.get("Anonymous"))
