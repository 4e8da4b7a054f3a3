"""What this process has read and holds, where the system says (Linux ``/proc``).

For benchmarks and diagnostics only: every function returns None where the
figure is not available (other systems, portable mode), and callers show
"n/a" instead.
"""

from __future__ import annotations

from viewer.model.platform import LINUX, PORTABLE


def _proc_fields(name: str, keys: tuple[str, ...]) -> dict[str, int] | None:
    if not LINUX or PORTABLE:
        return None
    values: dict[str, int] = {}
    try:
        with open(f"/proc/self/{name}", encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in keys:
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return values


def read_bytes() -> int | None:
    """Bytes this process caused to be fetched from storage so far (``/proc/self/io`` ``read_bytes``).

    Page-cache hits do not count: after dropping a file's pages, the
    difference across an operation is what it read from the disk.
    """
    values = _proc_fields("io", ("read_bytes",))
    return None if not values else values.get("read_bytes")


def file_backed_kib() -> int | None:
    """Resident file-backed memory of this process in KiB (``RssFile``: mapped file pages touched)."""
    values = _proc_fields("status", ("RssFile",))
    return None if not values else values.get("RssFile")
