"""The process's memory use, for the status bar and the benchmark.

No Qt here. The figures come from :func:`viewer.model.platform.memory.process_memory`
(``/proc`` on Linux, ``task_info`` on macOS, ``GetProcessMemoryInfo`` on
Windows); every figure is None where the platform does not say.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.model.platform.memory import process_memory


@dataclass(frozen=True)
class MemoryUse:
    """Bytes of resident memory, of anonymous (not file-backed) memory, and of file-backed pages."""

    resident: int | None
    anonymous: int | None
    file_backed: int | None = None


def memory_use() -> MemoryUse:
    """Resident, anonymous and file-backed memory of this process (None where unknown)."""
    use = process_memory()
    return MemoryUse(use.resident, use.anonymous, use.file_backed)
