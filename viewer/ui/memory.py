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

    ``smaps_rollup`` gives Anonymous directly; older kernels only have
    ``status``, whose RssAnon is the same figure.
    """
    rollup = _read_kb_fields("/proc/self/smaps_rollup", ("Rss", "Anonymous"))
    if "Rss" in rollup and "Anonymous" in rollup:
        return MemoryUse(rollup["Rss"], rollup["Anonymous"])
    status = _read_kb_fields("/proc/self/status", ("VmRSS", "RssAnon"))
    return MemoryUse(status.get("VmRSS"), status.get("RssAnon"))
