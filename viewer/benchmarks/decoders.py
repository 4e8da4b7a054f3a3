"""``cinemap bench`` decoder rows: every pydicom plugin per transfer syntax, the GIL, the pool.

For each case -- synthetic cines made by :mod:`viewer.synthetic.codestreams`
(512 and 1024 px) and the first frame of real files from pydicom-data and
pydicom's test files, where installed -- :func:`measure` times:

* **plugins**: CPU ms per frame through pydicom's ``Decoder.as_array(...,
  decoding_plugin=NAME)`` (what :class:`~viewer.model.codecs.FrameDecoder`
  calls) for every available plugin, the one Cinemap chooses, and the
  **floor**: the fastest way to get the pixels at all, the plugins and the
  bare libraries (Pillow, libjpeg, openjpeg, rle, CharLS) on the bare
  codestream, without pydicom;
* **GIL**: the share of the time a thread sleeping 1 ms at a time is kept
  waiting while another decodes with a plugin, beside a C call that
  releases the GIL and one that holds it (the machine's load delays all
  three alike);
* **pool**: frames per second of :class:`~viewer.model.codecs.pool.DecodePool`
  with 1 and 2 workers against decoding inline, and the UI-thread stall meanwhile;
* **reduced**: ms per frame of ``decode_reduced`` at 1/2, 1/4, 1/8.

The worker side runs in a fresh process (``task: decoders``); the file
writes nothing to disk.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydicom import uid

SYNTHETIC = [  # label, syntax, rows, columns, samples, bits stored
    ("JPEG Baseline 1024x1024 grey", uid.JPEGBaseline8Bit, 1024, 1024, 1, 8),
    ("JPEG Baseline 512x512 grey", uid.JPEGBaseline8Bit, 512, 512, 1, 8),
    ("JPEG Baseline 640x480 YBR_FULL_422", uid.JPEGBaseline8Bit, 480, 640, 3, 8),
    ("JPEG Lossless SV1 1024x1024 12-bit", uid.JPEGLosslessSV1, 1024, 1024, 1, 12),
    ("JPEG-LS lossless 1024x1024 12-bit", uid.JPEGLSLossless, 1024, 1024, 1, 12),
    ("JPEG 2000 lossless 1024x1024 16-bit", uid.JPEG2000Lossless, 1024, 1024, 1, 16),
    ("JPEG 2000 lossless 512x512 16-bit", uid.JPEG2000Lossless, 512, 512, 1, 16),
    ("JPEG 2000 10:1 1024x1024 12-bit", uid.JPEG2000, 1024, 1024, 1, 12),
    ("RLE 1024x1024 16-bit", uid.RLELossless, 1024, 1024, 1, 16),
]
REAL = ["JPGExtended.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "color3d_jpeg_baseline.dcm", "MR2_J2KR.dcm",
        "MR2_J2KI.dcm", "US1_J2KR.dcm", "OBXXXX1A_rle.dcm"]
POOL_CASES = ["JPEG Baseline 1024x1024 grey", "JPEG Baseline 640x480 YBR_FULL_422",
              "JPEG 2000 lossless 1024x1024 16-bit", "RLE 1024x1024 16-bit"]
REDUCED_CASES = POOL_CASES[:3] + ["MR2_J2KR.dcm"]
GIL_CASES = ["JPEG Baseline 1024x1024 grey", "JPEG Lossless SV1 1024x1024 12-bit", "JPEG-LS lossless 1024x1024 12-bit",
             "JPEG 2000 lossless 1024x1024 16-bit", "RLE 1024x1024 16-bit"]
FRAMES_PER_CINE = 4


@dataclass
class Case:
    label: str
    syntax: str
    options: dict[str, Any]
    frames: list[bytes]  # bare codestreams


# ------------------------------------------------------------------ cases


def _synthetic_cases(frames: int) -> list[Case]:
    from viewer.synthetic.codestreams import encodable, encode_frames

    cases = []
    for label, syntax, rows, columns, samples, bits in SYNTHETIC:
        if encodable(syntax):
            encoded = encode_frames(syntax, frames, rows, columns, samples_per_pixel=samples, bits_stored=bits)
            cases.append(Case(label, syntax, encoded.options, encoded.frames))
    return cases


def _real_cases() -> list[Case]:
    import pydicom
    from pydicom.encaps import generate_frames
    from pydicom.pixels.utils import as_pixel_options

    folders = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    cases = []
    for name in REAL:
        path = next((folder / name for folder in folders if (folder / name).is_file()), None)
        if path is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(path)
            count = int(dataset.get("NumberOfFrames", 1) or 1)
            frame = next(generate_frames(dataset.PixelData, number_of_frames=count))
        syntax = dataset.file_meta.TransferSyntaxUID
        options = dict(as_pixel_options(dataset), transfer_syntax_uid=syntax, number_of_frames=1)
        cases.append(Case(name, syntax, options, [frame]))
    return cases


# ---------------------------------------------------------------- timing


def _ms_per_frame(decode: Callable[[bytes], Any], frames: list[bytes], seconds: float) -> float:
    """Median ms of decoding the frames in turn, at least 5 times, about `seconds` in all."""
    decode(frames[0])  # warm up (imports, tables)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - started < seconds and len(times) < 200):
        data = frames[len(times) % len(frames)]
        begin = time.perf_counter()
        decode(data)
        times.append(time.perf_counter() - begin)
    return float(np.median(times) * 1000)


def _raw_decoders(case: Case) -> dict[str, Callable[[bytes], Any]]:
    """The bare libraries on a bare codestream: the floor, without pydicom."""
    syntax, options = case.syntax, case.options
    raw: dict[str, Callable[[bytes], Any]] = {}
    jpeg = syntax in (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit)
    if (jpeg and options["bits_stored"] <= 8) or syntax in (uid.JPEG2000Lossless, uid.JPEG2000):
        from PIL import Image

        raw["Pillow"] = lambda data: np.asarray(Image.open(BytesIO(data)))
    if jpeg or syntax in (uid.JPEGLossless, uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEGLSNearLossless):
        import libjpeg

        raw["libjpeg"] = libjpeg.decode
    if syntax in (uid.JPEG2000Lossless, uid.JPEG2000, uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K):
        import openjpeg

        raw["openjpeg"] = openjpeg.decode
    if syntax in (uid.JPEGLSLossless, uid.JPEGLSNearLossless):
        import jpeg_ls

        raw["CharLS"] = jpeg_ls.decode_buffer
    if syntax == uid.RLELossless:
        from rle.utils import decode_pixel_data

        raw["rle"] = lambda data: decode_pixel_data(data, rows=options["rows"], columns=options["columns"],
                                                    bits_allocated=options["bits_allocated"])
    return raw


def measure_plugins(case: Case, seconds: float) -> dict[str, Any]:
    """ms per frame of each plugin and bare library; the chosen plugin and its ratio to the floor."""
    from pydicom.pixels import get_decoder

    from viewer.model.codecs import FrameDecoder, as_encapsulated

    chosen = FrameDecoder(None, case.syntax, case.options)
    wrapped = [as_encapsulated(data) for data in case.frames]
    methods: dict[str, tuple[Callable[[bytes], Any], list[bytes]]] = {}
    for plugin in get_decoder(case.syntax).available_plugins:
        decoder = FrameDecoder(None, case.syntax, case.options, plugin=plugin)
        methods[plugin] = (functools.partial(_only, decoder, plugin), wrapped)
    if chosen.plugin in methods:  # the FrameDecoder itself: the chosen plugin, validated once
        methods["cinemap"] = (chosen.decode, wrapped)
    raw_names = []
    for name, function in _raw_decoders(case).items():
        methods[name] = (function, case.frames)
        raw_names.append(name)
    timed = interleaved_ms(methods, seconds * len(methods))
    plugins = {name: value for name, value in timed.items() if name not in raw_names and name != "cinemap"}
    raw = {name: timed[name] for name in raw_names}
    numbers = {name: value for name, value in timed.items() if isinstance(value, float) and name != "cinemap"}
    floor_name = min(numbers, key=numbers.__getitem__) if numbers else None
    chosen_ms = timed.get("cinemap")
    result = {"label": case.label, "syntax": uid.UID(case.syntax).name, "plugins": plugins, "raw": raw,
              "chosen": chosen.plugin, "chosen_ms": chosen_ms, "releases_gil": chosen.releases_gil,
              "floor": floor_name, "floor_ms": numbers.get(floor_name) if floor_name else None}
    if isinstance(chosen_ms, float) and floor_name:
        result["ratio_to_floor"] = round(chosen_ms / numbers[floor_name], 2)
    return result


def interleaved_ms(methods: dict[str, tuple[Callable[[bytes], Any], list[bytes]]], seconds: float,
                   ) -> dict[str, float | str]:
    """Median ms per frame of each method, timed in turns so that the machine's load hits all alike.

    Each round decodes the next frame with every method; at least 5 rounds,
    then as many as fit in `seconds`. A method that fails on the first frame
    gets the reason instead of a time.
    """
    results: dict[str, float | str] = {}
    working = {}
    for name, (function, frames) in methods.items():
        failure = _failure(function, frames[0])
        if failure is None:
            working[name] = (function, frames)
        else:
            results[name] = failure
    times: dict[str, list[float]] = {name: [] for name in working}
    started = time.perf_counter()
    rounds = 0
    while working and (rounds < 5 or (time.perf_counter() - started < seconds and rounds < 200)):
        for name, (function, frames) in working.items():
            data = frames[rounds % len(frames)]
            begin = _clock()
            function(data)
            times[name].append(_clock() - begin)
        rounds += 1
    results.update({name: round(float(np.median(values)) * 1000, 3) for name, values in times.items()})
    return results


def _clock() -> float:
    """CPU seconds of this process (all its threads).

    The decoders compared are single-threaded, and on a shared machine CPU
    time is what stays put while other processes come and go: wall time
    there measured the load more than the decoder (the same frame took 100
    or 400 ms). Wall times are in the pool rows.
    """
    return time.process_time()


def _failure(function: Callable[[bytes], Any], data: bytes) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            function(data)
    except Exception as exc:  # noqa: BLE001 -- a plugin that cannot decode this case: say why
        return "fails: " + (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()[:80]
    return None


def _reduced(decoder: Any, factor: int, data: bytes) -> Any:
    return decoder.decode_reduced(data, factor)


def _only(decoder: Any, plugin: str, data: bytes) -> np.ndarray:
    """Decode with exactly this plugin (FrameDecoder would fall back to others on failure)."""
    from pydicom.pixels import get_decoder

    array, _ = get_decoder(decoder.transfer_syntax).as_array(data, index=0, decoding_plugin=plugin,
                                                             **decoder.options)
    return array


# ------------------------------------------------------------------- GIL


def wake_latencies(busy: Callable[[], Any], seconds: float) -> np.ndarray:
    """ms by which a 1 ms sleep overruns on this thread while `busy` runs in a loop on another."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            busy()

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    late = []
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            begin = time.perf_counter()
            time.sleep(0.001)
            late.append((time.perf_counter() - begin - 0.001) * 1000)
    finally:
        stop.set()
        worker.join()
    return np.array(late)


def blocked_share(busy: Callable[[], Any], seconds: float) -> tuple[float, np.ndarray]:
    """Share of the time a thread sleeping 1 ms at a time is kept from running while `busy` loops.

    A decoder that holds the GIL keeps it waiting for whole frames (share
    near 1); one that releases it delays it only as much as the machine's
    other load does. Returns the share and the overruns (ms).
    """
    late = wake_latencies(busy, seconds)
    return float(late.sum() / (late.sum() + len(late))), late


def _references() -> dict[str, Callable[[], Any]]:
    """Two C calls of known behaviour to read the plugins' shares against, on a machine of any load."""
    import hashlib
    import random

    data = bytes(8 << 20)
    numbers = list(range(300_000))
    random.Random(1).shuffle(numbers)
    return {"hashlib.sha256 (releases the GIL)": lambda: hashlib.sha256(data).digest(),
            "sorted() of a list (holds the GIL)": lambda: sorted(numbers)}


def measure_gil(case: Case, seconds: float) -> list[dict[str, Any]]:
    """Per plugin: the blocked share of a sleeping thread while it decodes, against two references.

    The references -- a C call that releases the GIL and one that holds it
    -- run just before the plugins, so the machine's load, which delays
    every wake-up, shows in them too; a plugin releases the GIL if its share
    is nearer the releasing reference's.
    """
    from pydicom.pixels import get_decoder

    from viewer.model.codecs import FrameDecoder, as_encapsulated
    from viewer.model.codecs.choice import GIL_FREE

    busy: dict[str, tuple[Callable[[], Any], str | None]] = {
        name: (function, None) for name, function in _references().items()}
    data = as_encapsulated(case.frames[0])
    for name in get_decoder(case.syntax).available_plugins:
        decoder = FrameDecoder(None, case.syntax, case.options, plugin=name)
        if _failure(functools.partial(_only, decoder, name), data) is None:
            busy[name] = (functools.partial(_only, decoder, name, data), name)
    rows: list[dict[str, Any]] = []
    for name, (function, plugin) in busy.items():
        begin = time.perf_counter()
        function()
        call_ms = (time.perf_counter() - begin) * 1000
        share, late = blocked_share(function, seconds)
        rows.append({"label": case.label, "plugin": name, "call_ms": round(call_ms, 2), "blocked": round(share, 3),
                     "stall_p50_ms": round(float(np.median(late)), 2),
                     "stall_p99_ms": round(float(np.percentile(late, 99)), 2), "reference": plugin is None,
                     "table_releases_gil": (plugin, case.syntax) in GIL_FREE if plugin else None})
    free, held = float(rows[0]["blocked"]), float(rows[1]["blocked"])
    for row in rows:
        row["measured_releases_gil"] = row["blocked"] < (free + held) / 2
    return rows


# ------------------------------------------------------------------ pool


def measure_pool(case: Case, seconds: float, rounds: int = 3) -> dict[str, Any]:
    """Frames per second decoding a cine inline, and through the pool with 1 and 2 workers.

    Each run decodes enough distinct keys for about `seconds` / `rounds` of
    one-thread decoding (at least 8); the three ways take turns, `rounds`
    times (the median counts), so the machine's load hits them alike.
    Processes are started and warmed up before the clock starts. The
    UI-thread stall is measured while the pool decodes.
    """
    from viewer.model.codecs import FrameDecoder, as_encapsulated
    from viewer.model.codecs.pool import DecodePool

    decoder = FrameDecoder(None, case.syntax, case.options)
    wrapped = [as_encapsulated(data) for data in case.frames]
    inline_ms = _ms_per_frame(decoder.decode, wrapped, seconds / 8)
    count = int(min(96, max(8, seconds * 1000 / rounds / inline_ms)))
    pools = {workers: DecodePool(workers) for workers in (1, 2)}
    runs: dict[str, list[dict[str, Any]]] = {"inline": [], "pool_1": [], "pool_2": []}
    try:
        for pool in pools.values():
            _warm(pool, decoder, wrapped)
        for round_number in range(rounds):
            started = time.perf_counter()
            for index in range(count):
                decoder.decode(wrapped[index % len(wrapped)])
            runs["inline"].append({"fps": count / (time.perf_counter() - started)})
            for workers, pool in pools.items():
                runs[f"pool_{workers}"].append(_pool_run(pool, decoder, wrapped, count, round_number))
    finally:
        for pool in pools.values():
            pool.shutdown()
    result: dict[str, Any] = {"label": case.label, "plugin": decoder.plugin, "releases_gil": decoder.releases_gil,
                              "frames": count, "rounds": rounds}
    for name, values in runs.items():
        middle = sorted(values, key=lambda run: run["fps"])[len(values) // 2]
        result[name] = {key: round(value, 2) if value is not None else None for key, value in middle.items()}
    result["inline_fps"] = result["inline"]["fps"]
    return result


def _warm(pool, decoder, frames: list[bytes]) -> None:
    if not decoder.releases_gil:
        pool.start_processes()
    warm = [pool.submit(("warm", slot), decoder, frames[slot % len(frames)]) for slot in range(pool.workers)]
    for future in warm:
        future.result(120)


def _pool_run(pool, decoder, frames: list[bytes], count: int, round_number: int) -> dict[str, Any]:
    started = time.perf_counter()
    futures = [pool.submit((round_number, index), decoder, frames[index % len(frames)], priority=index)
               for index in range(count)]
    late = []
    while not all(future.done() for future in futures):
        begin = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - begin - 0.001) * 1000)
    elapsed = time.perf_counter() - started
    for future in futures:
        future.result()
    return {"fps": count / elapsed,
            "stall_p99_ms": float(np.percentile(late, 99)) if late else None,
            "stall_max_ms": float(np.max(late)) if late else None}


# --------------------------------------------------------------- reduced


def measure_reduced(case: Case, seconds: float) -> dict[str, Any]:
    """ms per frame of ``decode_reduced`` at 1, 2, 4, 8 and the speed-up over the full decode."""
    from viewer.model.codecs import FrameDecoder, as_encapsulated

    decoder = FrameDecoder(None, case.syntax, case.options)
    wrapped = [as_encapsulated(data) for data in case.frames]
    full = _ms_per_frame(decoder.decode, wrapped, seconds)
    rows: dict[str, Any] = {"label": case.label, "full_ms": round(full, 3)}
    for factor in (2, 4, 8):
        actual = decoder.reduced_factor(factor, wrapped[0])
        ms = _ms_per_frame(functools.partial(_reduced, decoder, factor), wrapped, seconds)
        rows[str(factor)] = {"actual": actual, "ms": round(ms, 3), "speedup": round(full / ms, 2)}
    return rows


# ---------------------------------------------------------------- worker


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side of ``cinemap bench`` (``task: decoders``): every table above, as JSON."""
    seconds = float(spec.get("seconds", 0.5))
    started = time.perf_counter()
    cases = _synthetic_cases(int(spec.get("frames", FRAMES_PER_CINE))) + _real_cases()
    by_label = {case.label: case for case in cases}
    result: dict[str, Any] = {"encode_seconds": round(time.perf_counter() - started, 1), "versions": versions()}
    result["plugins"] = [measure_plugins(case, seconds) for case in cases]
    result["gil"] = [row for label in GIL_CASES if label in by_label
                     for row in measure_gil(by_label[label], seconds * 2)]
    result["pool"] = [measure_pool(by_label[label], seconds * 4) for label in POOL_CASES if label in by_label]
    result["reduced"] = [measure_reduced(by_label[label], seconds / 2) for label in REDUCED_CASES
                         if label in by_label]
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def versions() -> dict[str, str | None]:
    """Versions of pydicom and of every decoder package."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for package in ("pydicom", "pillow", "python-gdcm", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg",
                    "pylibjpeg-rle", "pyjpegls"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
