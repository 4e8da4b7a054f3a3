"""A compressed cine past 4 GiB: open, first frame and random frames, cold and warm (issue 13).

The file (:func:`indexed_cine`) is a JPEG Baseline 512x512 cine with an
Extended Offset Table and an empty Basic Offset Table, as the standard asks
for past 4 GiB, written by :func:`viewer.synthetic.encapsulated.write_encapsulated_cine`.

Methods (each in a fresh process, :func:`measure`):

``pydicom_dcmread`` (the floor)
    ``dcmread(stop_before_pixels=True)``, the tables decoded to lists once, then
    ``encaps.get_frame(file, k, extended_offsets=...)`` and pydicom's decoder:
    reads only the frame asked for.
``pydicom_index``
    ``pydicom.pixels.pixel_array(path, index=k)`` (parses the header on every call).
``cinemap``
    ``open_document(path)`` and ``doc.frame(k)``. For the file read *as if it
    had no table*, the header through pydicom as the floor does, then
    :class:`~viewer.model.dicom.frame_index.FrameIndex` and
    :class:`~viewer.model.frames.encapsulated.EncapsulatedFrames` without the
    tables, with the same decoder.

The same file is also read *as if it had no table* (``tables: false``):
pydicom's ``get_frame`` then walks every fragment before the first frame,
Cinemap walks only to it, and the complete walk (Cinemap's background
indexer, pydicom's ``parse_fragments``) is timed with the bytes it reads.

Cold figures drop the file's pages first (``POSIX_FADV_DONTNEED``; nothing
here maps the file), and bytes read come from ``/proc/self/io``; both are
n/a where the platform layer cannot give them.
"""

from __future__ import annotations

import os
import random
import struct
import time
from typing import Any, Callable

import numpy as np

from viewer.benchmarks import probe

ROWS = COLUMNS = 512
QUALITY = 100  # about 76 KB a frame, like the ultrasound cine of issue 13
EMPTY_BOT_AND_ITEM = b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\x00\xe0"
METHODS = ("cinemap", "pydicom_index", "pydicom_dcmread")


def indexed_cine(fileset, size: int):
    """The benchmark's compressed cine of about `size` bytes (reused if complete)."""
    from viewer.synthetic.encapsulated import encapsulated_frames_for_size, write_encapsulated_cine

    frames = encapsulated_frames_for_size(size, rows=ROWS, columns=COLUMNS, quality=QUALITY)
    geometry = f"{COLUMNS}x{ROWS} 8-bit grey JPEG Baseline, Extended Offset Table"

    def describe(path) -> dict[str, Any]:
        import pydicom

        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["NumberOfFrames"])
        if int(dataset.NumberOfFrames) != frames or os.path.getsize(path) < size * 0.9:
            raise ValueError(f"{path} is incomplete")
        return {"frames": frames, "geometry": geometry}

    def write(path) -> None:
        write_encapsulated_cine(path, frames=frames, rows=ROWS, columns=COLUMNS, quality=QUALITY)

    return fileset.ensure("indexed", f"jpeg-eot-{ROWS}x{COLUMNS}-{frames}f.dcm", write, describe)


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------


class _Header:
    """What both sides learn from pydicom's header parse: the value offset, tables, decoder."""

    def __init__(self, path: str) -> None:
        import pydicom
        from pydicom.pixels import get_decoder
        from pydicom.pixels.utils import as_pixel_options

        self.file = open(path, "rb")
        self.dataset = pydicom.dcmread(self.file, stop_before_pixels=True)
        self.value_offset = self.file.tell() + 12  # explicit VR OB, undefined length
        self.frames = int(self.dataset.NumberOfFrames)
        self.tables = (self.dataset.ExtendedOffsetTable, self.dataset.ExtendedOffsetTableLengths)
        self.decoder = get_decoder(self.dataset.file_meta.TransferSyntaxUID)
        self.options = dict(as_pixel_options(self.dataset), number_of_frames=1)
        self.options.pop("extended_offsets", None)

    def close(self) -> None:
        self.file.close()


class _Floor:
    """pydicom: ``dcmread(stop_before_pixels=True)`` + ``get_frame`` + its decoder."""

    def __init__(self, path: str, tables: bool) -> None:
        self.header = _Header(path)
        # Decoded once here: given raw bytes, get_frame would unpack the whole table on every call.
        self.tables = tuple(np.frombuffer(table, "<u8").tolist() for table in self.header.tables) if tables else None

    def frame(self, index: int) -> np.ndarray:
        from pydicom.encaps import get_frame

        header = self.header
        header.file.seek(header.value_offset)
        data = get_frame(header.file, index, extended_offsets=self.tables, number_of_frames=header.frames)
        data += b"\x00" * (len(data) % 2)
        source = EMPTY_BOT_AND_ITEM + struct.pack("<I", len(data)) + data
        return header.decoder.as_array(source, index=0, **header.options)[0]

    def close(self) -> None:
        self.header.close()


class _Cinemap:
    """``open_document`` (with the tables), or the frame index and source without them."""

    def __init__(self, path: str, tables: bool) -> None:
        from viewer.model.frames.encapsulated import EncapsulatedFrames, pydicom_decode

        self.document = None
        if tables:
            from viewer.model import open_document

            self.document = open_document(path)
            source = self.document.source
            assert isinstance(source, EncapsulatedFrames)  # the bench's JPEG cine
            self.index = source.index
            return
        from viewer.model.dicom.frame_index import FrameIndex, positional_reader
        from viewer.model.platform import advice
        from viewer.model.storage.cache import FrameCache

        header = self.header = _Header(path)
        fd = self.fd = os.open(path, os.O_RDONLY)

        def scan_advice(random_access: bool) -> None:
            advice.set_random_access(fd, random_access)

        index = FrameIndex(
            path, positional_reader(path, fd), header.value_offset, os.fstat(fd).st_size, header.frames,
            extended=header.tables if tables else None, frame_markers=True, scan_advice=scan_advice,
        )
        self.index = index
        self.source = EncapsulatedFrames(index, (ROWS, COLUMNS), np.dtype(np.uint8),
                                         pydicom_decode(header.decoder, header.options), check=lambda: None,
                                         cache=FrameCache(64 << 20))

    def frame(self, index: int) -> np.ndarray:
        if self.document is not None:
            return self.document.frame(index)
        return self.source.frame(index)

    def close(self) -> None:
        if self.document is not None:
            self.document.close()
            return
        self.source.close()
        os.close(self.fd)
        self.header.close()


class _PixelArray:
    """``pydicom.pixels.pixel_array(path, index=k)``: nothing to open."""

    def __init__(self, path: str, tables: bool) -> None:
        self.path = path

    def frame(self, index: int) -> np.ndarray:
        from pydicom.pixels import pixel_array

        return pixel_array(self.path, index=index)

    def close(self) -> None:
        pass


_OPENERS: dict[str, Callable[[str, bool], Any]] = {
    "cinemap": _Cinemap, "pydicom_dcmread": _Floor, "pydicom_index": _PixelArray,
}


def _io_probes() -> tuple[Callable[[], int | None], Callable[[], int | None], Callable[[str], bool]]:
    from viewer.model.platform import advice, iostats

    return iostats.read_bytes, iostats.file_backed_kib, advice.drop_file_cache


def _open_first(method: str, path: str, tables: bool) -> tuple[float, Any]:
    started = time.perf_counter()
    opened = _OPENERS[method](path, tables)
    opened.frame(0)
    return time.perf_counter() - started, opened


def _cold_open(method: str, path: str, tables: bool, repeats: int = 5) -> dict[str, Any]:
    """Median time of `repeats` cold opens + first frame; bytes and file-backed memory of the last one."""
    read_bytes, file_kib, evict = _io_probes()
    times: list[float] = []
    opened: Any = None
    for _ in range(repeats):
        if not evict(path):
            return {"na": "n/a (the platform cannot drop the file's pages)"}
        if opened is not None:
            opened.close()
        before_read, before_file = read_bytes(), file_kib()
        seconds, opened = _open_first(method, path, tables)
        after_read, after_file = read_bytes(), file_kib()
        times.append(seconds)
    result: dict[str, Any] = {"ms": round(float(np.median(times)) * 1000, 3), "first_ms": round(times[0] * 1000, 3)}
    if before_read is not None and after_read is not None:
        result["read_mb"] = round((after_read - before_read) / 1e6, 3)
    if before_file is not None and after_file is not None:
        result["file_backed_mb"] = round(max(0, after_file - before_file) / 1024, 3)
    result["opened"] = opened
    return result


def _random_frames(opened: Any, path: str, indices: list[int], cold: bool) -> list[float]:
    _, _, evict = _io_probes()
    return probe.time_each(indices, opened.frame, before=(lambda _: evict(path)) if cold else None)


def _warm_frames(path: str, header: "_Header", indices: list[int]) -> None:
    """Put the header, the tables and the frames' bytes in the page cache (untimed)."""
    offsets, lengths = (np.frombuffer(table, "<u8") for table in header.tables)
    base = header.value_offset + 8
    ranges = [(0, header.value_offset + 8)]
    ranges += [(base + int(offsets[k]), 8 + int(lengths[k])) for k in indices]
    probe.warm_ranges(path, ranges)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """One method on the indexed cine: cold and warm open + first frame, random frames, the walk.

    Returns
    -------
    dict
        ``open_cold`` (ms, read_mb, file_backed_mb), ``open_warm`` and
        ``random_warm``/``random_cold`` (summaries in ms), and for
        ``tables: false`` runs ``walk_cold`` (ms, read_mb, kb_per_item).
    """
    probe.warm_up_pydicom()
    import pydicom.encaps  # noqa: F401  (imports are not timed)
    import pydicom.pixels  # noqa: F401

    import viewer.model.frames.encapsulated  # noqa: F401
    import viewer.model.platform.advice  # noqa: F401
    import viewer.model.platform.positional  # noqa: F401

    method, path, tables = spec["method"], spec["path"], bool(spec.get("tables", True))
    if not tables and method == "pydicom_index":
        return {"na": "n/a (pixel_array always uses the file's table)"}
    header = _Header(path)
    rng = random.Random(spec["seed"])
    samples = rng.sample(range(1, header.frames), 2 * int(spec["samples"]))
    cold_indices, warm_indices = samples[: len(samples) // 2], samples[len(samples) // 2:]
    result: dict[str, Any] = {"method": method, "frames": header.frames}
    cold = _cold_open(method, path, tables)
    opened = cold.pop("opened", None)
    result["open_cold"] = cold
    if "na" in cold:  # the row extractors look for "<key>_na" to say why a figure is missing
        result.update(open_cold_na=cold["na"], random_cold_na=cold["na"], walk_cold_na=cold["na"])
    if opened is not None:
        if tables:
            result["random_cold"] = probe.summarize_ms(_random_frames(opened, path, cold_indices, cold=True))
        opened.close()
    _warm_frames(path, header, [0] + warm_indices)
    repeats = []
    for _ in range(int(spec.get("open_repeats", 20))):
        seconds, opened = _open_first(method, path, tables)
        repeats.append(seconds)
        opened.close()
    result["open_warm"] = probe.summarize_ms(repeats)
    if tables:
        seconds, opened = _open_first(method, path, tables)
        result["random_warm"] = probe.summarize_ms(_random_frames(opened, path, warm_indices, cold=False))
        opened.close()
    elif "na" not in cold:
        result["walk_cold"] = _complete_walk(method, path, header)
    header.close()
    return result


def _complete_walk(method: str, path: str, header: "_Header") -> dict[str, Any]:
    """Every item header, cold: Cinemap's background indexer or pydicom's ``parse_fragments``."""
    read_bytes, _, evict = _io_probes()
    if not evict(path):
        return {"na": "n/a (the platform cannot drop the file's pages)"}
    before = read_bytes()
    started = time.perf_counter()
    if method == "cinemap":
        opened = _Cinemap(path, tables=False)
        status = opened.index.complete_index()
        items = opened.index.items_read
        opened.close()
        assert status.complete
    else:
        from pydicom.encaps import parse_basic_offsets, parse_fragments

        with open(path, "rb") as handle:
            handle.seek(header.value_offset)
            parse_basic_offsets(handle)
            items, _ = parse_fragments(handle)
    seconds = time.perf_counter() - started
    after = read_bytes()
    result: dict[str, Any] = {"ms": round(seconds * 1000, 3), "items": items}
    if before is not None and after is not None:
        result["read_mb"] = round((after - before) / 1e6, 3)
        result["kb_per_item"] = round((after - before) / 1e3 / max(1, items), 3)
    return result
