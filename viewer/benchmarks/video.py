"""DICOM video: open, sequential, random and step-back frames against PyAV's own decode.

The file is an H.264 cine written by :func:`viewer.synthetic.video.write_video`
(1920 x 1080, 30 fps, a one-second closed GOP by default). Two methods, each
in its own process:

* ``cinemap``: :class:`~viewer.model.frames.video.VideoSource` over the file
  with positional reads and a memory cache of the document's default size;
  a fresh source for each measurement, so no measurement feeds the next;
* ``pyav``: the floor, PyAV decoding the same elementary stream from memory
  in one sequential pass (``container.decode``, then ``to_ndarray(format="rgb24")``
  per frame, as the source converts), with the same decoder threading.

Random frames are distinct and drawn with a fixed seed; "step back" times
``frame(k - 1)`` just after ``frame(k)``, for random k and for k at a GOP
start (the worst case: the previous GOP must be decoded).
"""

from __future__ import annotations

import io
import os
import random
import statistics
import time
from typing import Any

H264 = "1.2.840.10008.1.2.4.102"


def write_bench_video(path: str | os.PathLike[str], seconds: float, rows: int, columns: int,
                      fps: float = 30.0) -> dict[str, Any]:
    """Write the benchmark's H.264 cine; returns the fields of its :class:`~viewer.benchmarks.files.BenchFile`."""
    from viewer.synthetic.video import write_video

    frames = max(2, round(seconds * fps))
    written = write_video(path, frames, transfer_syntax=H264, rows=rows, columns=columns, fps=fps,
                          gop_frames=round(fps))
    return {"frames": frames, "geometry": f"{columns}x{rows} H.264 {fps:g} fps, {round(fps)}-frame closed GOP",
            "extra": {"value_offset": written.value_offset, "rows": rows, "columns": columns, "fps": fps}}


def describe_bench_video(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The :func:`write_bench_video` fields of an existing file (raises ValueError if it is not one)."""
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    position = head.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")  # encapsulated Pixel Data
    if position < 0 or str(header.file_meta.TransferSyntaxUID) != H264:
        raise ValueError(f"{path} is not an H.264 DICOM video")
    rows, columns, fps = int(header.Rows), int(header.Columns), float(header.CineRate)
    return {"frames": int(header.NumberOfFrames),
            "geometry": f"{columns}x{rows} H.264 {fps:g} fps, {round(fps)}-frame closed GOP",
            "extra": {"value_offset": position + 12, "rows": rows, "columns": columns, "fps": fps}}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side: ``spec["method"]`` is ``"cinemap"`` or ``"pyav"``."""
    if spec["method"] == "pyav":
        return _measure_pyav(spec)
    return _measure_cinemap(spec)


# ------------------------------------------------------------------- Cinemap
def _open(spec: dict[str, Any]):
    from viewer.model.frames.video import VideoSource
    from viewer.model.platform.positional import pread_into

    fd = os.open(spec["path"], os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def read(offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        return bytes(buffer[: pread_into(fd, buffer, offset)])

    source = VideoSource(spec["path"], read, spec["value_offset"], os.fstat(fd).st_size, H264,
                         num_frames=spec["frames"], rows=spec["rows"], columns=spec["columns"],
                         frame_time_ms=1000.0 / spec["fps"])
    return source, fd


def _close(source, fd: int) -> None:
    source.close()
    os.close(fd)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered), "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max_ms": ordered[-1], "samples": len(ordered)}


def _step_back_times(source, indices: list[int]) -> list[float]:
    """Milliseconds to show frame k - 1 right after frame k, for each k of `indices`."""
    times = []
    for index in indices:
        source.frame(index)
        times.append(_timed(lambda index=index: source.frame(index - 1)))
    return times


def _measure_cinemap(spec: dict[str, Any]) -> dict[str, Any]:
    frames = spec["frames"]
    started = time.perf_counter()
    import av  # noqa: F401  (once per process: FFmpeg's libraries load; reported apart from the open)

    import viewer.model.frames.video  # noqa: F401  (imported before the clock starts, as pydicom is for the floor)
    import viewer.model.platform.positional  # noqa: F401

    import_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    source, fd = _open(spec)
    open_ms = (time.perf_counter() - started) * 1000
    source.frame(0)
    open_first_ms = (time.perf_counter() - started) * 1000
    _close(source, fd)

    source, fd = _open(spec)
    started = time.perf_counter()
    for index in range(frames):
        source.frame(index)
    sequential_ms = (time.perf_counter() - started) * 1000 / frames
    _close(source, fd)

    picks = random.Random(spec["seed"]).sample(range(1, frames), min(spec["samples"], frames - 1))
    source, fd = _open(spec)
    random_times = [_timed(lambda index=index: source.frame(index)) for index in picks]
    _close(source, fd)

    source, fd = _open(spec)
    back_times = _step_back_times(source, picks)
    source.index.wait_done(60)
    keys = [key for key in source.index.keys() if key > 0]
    _close(source, fd)

    source, fd = _open(spec)
    gop_back_times = _step_back_times(source, keys)
    _close(source, fd)
    return {
        "import_av_ms": import_ms, "open_ms": open_ms, "open_first_ms": open_first_ms,
        "sequential": {"ms_per_frame": sequential_ms, "frames_per_second": 1000 / sequential_ms},
        "random": _summary(random_times), "step_back": _summary(back_times),
        "step_back_gop_start": _summary(gop_back_times) if gop_back_times else None,
    }


# --------------------------------------------------------------------- floor
def _measure_pyav(spec: dict[str, Any]) -> dict[str, Any]:
    import av
    import pydicom
    from pydicom.encaps import generate_frames

    dataset = pydicom.dcmread(spec["path"])
    (stream,) = generate_frames(dataset.PixelData, number_of_frames=1)
    del dataset
    av.open(io.BytesIO(stream[:4096]), format="h264").close()  # warm up, as the Cinemap side imports first
    started = time.perf_counter()
    with av.open(io.BytesIO(stream), format="h264") as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        next(container.decode(video)).to_ndarray(format="rgb24")
    open_first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    count = 0
    with av.open(io.BytesIO(stream), format="h264") as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        for frame in container.decode(video):
            frame.to_ndarray(format="rgb24")
            count += 1
    sequential_ms = (time.perf_counter() - started) * 1000 / max(count, 1)
    per_frame = {"median_ms": sequential_ms}
    return {"open_first_ms": open_first_ms, "frames_decoded": count,
            "sequential": {"ms_per_frame": sequential_ms, "frames_per_second": 1000 / sequential_ms},
            "random": per_frame, "step_back": per_frame, "step_back_gop_start": per_frame}
