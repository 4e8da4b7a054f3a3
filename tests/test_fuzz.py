"""Broken files give a DicomError naming the file: never a crash, a hang or another exception.

* ``test_fuzz_mutants`` (slow) opens and renders (first, middle, last frame)
  thousands of mutants of the real reference files and of synthetic cines,
  each in a child process: 2,000 from a fixed seed, then more from a seed
  drawn for this run (or ``CINEMAP_FUZZ_SEED``), printed so a failure can be
  reproduced with ``python tests/fuzz --seed N``.
* ``test_regression_input`` replays every input the fuzzer once failed on,
  kept in ``tests/fuzz/regressions/``.
* The harness's own tests prove that a crash and a hang are seen as such.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import textwrap
import tracemalloc
import zlib

import numpy as np
import pytest

from fuzz.campaign import REGRESSIONS, load_seeds, make_mutant, run_campaign
from fuzz.harness import DEFAULT_TIMEOUT, Runner
from fuzz.layout import parse_layout
from fuzz.mutators import set_length, set_value
from viewer.model import NotDicomError, UnsupportedError, open_document
from viewer.synthetic import expected_frame, write_cine

FIXED_SEED = 20261125
FIXED_MUTANTS = 2000
RUN_MUTANTS = int(os.environ.get("CINEMAP_FUZZ_MUTANTS", "2000"))
REGRESSION_FILES = sorted(REGRESSIONS.glob("*.dcm"))


@pytest.fixture(scope="module")
def runner():
    with Runner(workers=1) as pool:
        yield pool


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[path.name[:60] for path in REGRESSION_FILES])
def test_regression_input(path, runner):
    """Opens or raises DicomError, renders or raises DicomError, within 5 s, in a child."""
    (result,) = runner.run([str(path)])
    assert not result.failed, result.summary()
    assert result.seconds < DEFAULT_TIMEOUT


def test_regression_inputs_are_kept_small():
    assert REGRESSION_FILES, "the regression folder should hold the inputs the fuzzer failed on"
    assert all(path.stat().st_size < 64 * 1024 for path in REGRESSION_FILES)


def test_mutants_are_reproducible(tmp_path):
    seeds = load_seeds(tmp_path / "seeds")
    assert len(seeds) > 100
    for index in (0, 1, 999):
        first = make_mutant(seeds, 7, index)
        again = make_mutant(seeds, 7, index)
        assert first[0].name == again[0].name and first[1:] == again[1:]
        assert first[1] != first[0].data, "a mutant must differ from its seed"


def test_defined_length_compressed_pixel_data_is_refused_not_shown_as_noise(tmp_path):
    """Found by the fuzzer: mapped as native, the compressed bytes were shown as an image."""
    seeds = {seed.name: seed for seed in load_seeds(tmp_path / "seeds")}
    seed = seeds["data/emri_small_RLE.dcm"]
    pixel = seed.layout.pixel
    assert pixel is not None and pixel.length is None
    path = tmp_path / "defined-length-rle.dcm"
    path.write_bytes(set_length(seed.data, pixel, len(seed.data) - pixel.value_offset))
    with pytest.raises(UnsupportedError, match="defined length"):
        open_document(path)


def test_pixel_data_with_a_wrong_vr_is_refused(tmp_path):
    """Found by the fuzzer: Pixel Data with VR SQ was mapped, and printing the dataset then failed."""
    seeds = {seed.name: seed for seed in load_seeds(tmp_path / "seeds")}
    seed = seeds["seeds/synthetic-u16.dcm"]
    pixel = seed.layout.pixel
    assert pixel is not None and pixel.vr == b"OW"
    path = tmp_path / "pixel-vr-sq.dcm"
    path.write_bytes(seed.data[: pixel.header_offset + 4] + b"SQ" + seed.data[pixel.header_offset + 6 :])
    with pytest.raises(UnsupportedError, match=r"Pixel ?Data \(7FE0,0010\) has VR 'SQ'"):
        open_document(path)


def _deflated_with_appended_zeros(tmp_path, zeros: int, as_element: bool):
    """The synthetic deflated seed with `zeros` more inflated bytes, streamed (a deflate bomb)."""
    seeds = {seed.name: seed for seed in load_seeds(tmp_path / "seeds")}
    seed = seeds["seeds/synthetic-u8-deflated.dcm"]
    start = seed.layout.dataset_offset
    dataset = zlib.decompress(seed.data[start:], -zlib.MAX_WBITS)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = struct.pack("<HHcc2xI", 0x0009, 0x1010, b"O", b"B", zeros) if as_element else b""
    stream = [compressor.compress(dataset + head)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        stream.append(compressor.compress(chunk))
    stream.append(compressor.flush())
    path = tmp_path / "bomb.dcm"
    path.write_bytes(seed.data[:start] + b"".join(stream))
    return path


def count_parsed_elements(monkeypatch) -> list[int]:
    """Count the data elements pydicom hands to the model's per-element hook (a one-item list)."""
    from viewer.model.dicom import header

    count = [0]
    real = header._stop_when

    def counting(*args, **kwargs):
        hook = real(*args, **kwargs)

        def stop_when(tag, vr, length):
            count[0] += 1
            return hook(tag, vr, length)

        return stop_when

    monkeypatch.setattr(header, "_stop_when", counting)
    return count


def test_deflate_bomb_is_refused_before_it_is_inflated(tmp_path):
    """A ~300 KB file that inflates to 300 MB used to take a gigabyte of memory."""
    path = _deflated_with_appended_zeros(tmp_path, 300 << 20, as_element=True)
    assert path.stat().st_size < 1 << 20
    # Memory, not time: refused "before it is inflated" means it never held the 300 MB.
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedError, match="inflates to more than"):
            open_document(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
def test_zeroed_runs_are_not_walked_element_by_element(tmp_path, monkeypatch):
    """pydicom reads zero bytes as empty elements: 20 MB of them took 4-8 s, a zeroed gigabyte minutes."""
    path = _deflated_with_appended_zeros(tmp_path, 20 << 20, as_element=False)
    elements = count_parsed_elements(monkeypatch)
    with open_document(path) as document:  # zeros after the pixel data: ignored
        document.frame(document.num_frames - 1)
    plain = write_cine(tmp_path / "cine.dcm", frames=3, rows=16, columns=16)
    with open(plain, "ab") as tail:
        tail.write(bytes(20 << 20))
    with open_document(plain) as document:
        document.frame(2)
    data = plain.read_bytes()
    pixel = parse_layout(data).pixel
    assert pixel is not None
    damaged = tmp_path / "zeroed-header.dcm"
    damaged.write_bytes(data[: pixel.header_offset] + bytes(20 << 20) + data[pixel.header_offset :])
    with pytest.raises(NotDicomError, match="run of zero bytes"):
        open_document(damaged)
    # Work, not time: 20 MB of zeros read as 2.6 million empty elements when walked.
    assert 0 < elements[0] < 100_000


def test_deflated_number_of_frames_is_checked_against_the_pixel_data(tmp_path):
    """Found by the fuzzer: a deflated file declaring more frames than it holds showed none."""
    seeds = {seed.name: seed for seed in load_seeds(tmp_path / "seeds")}
    seed = seeds["seeds/synthetic-u8-deflated.dcm"]  # 5 frames of 24 x 32
    start = seed.layout.dataset_offset
    bare = b"\x00" * 128 + b"DICM" + zlib.decompress(seed.data[start:], -zlib.MAX_WBITS)
    frames_element = parse_layout(bare).find(0x00280008)
    assert frames_element is not None
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    dataset = set_value(bare, frames_element, b"7")[132:]
    path = tmp_path / "seven-frames.dcm"
    path.write_bytes(seed.data[:start] + compressor.compress(dataset) + compressor.flush())
    with open_document(path) as document:
        assert document.num_frames == 5
        assert any("showing the 5 complete frame(s)" in warning for warning in document.warnings)
        np.testing.assert_array_equal(document.frame(4), expected_frame(4, rows=24, columns=32, bits_allocated=8))


_FAKE_CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys, time
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    print("ready", flush=True)
    for line in sys.stdin:
        if "crash" in line:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "hang" in line:
            time.sleep(60)
        print(json.dumps({"outcome": "ok"}), flush=True)
    """
)


def test_harness_reports_crashes_and_hangs_and_goes_on(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(_FAKE_CHILD)
    with Runner(workers=2, timeout=1.0, command=[sys.executable, "-u", str(child)]) as pool:
        results = pool.run(["a", "crash", "b", "hang", "c", "crash", "d"])
        assert [r.outcome for r in results] == ["ok", "crash", "ok", "hang", "ok", "crash", "ok"]
        assert "SIGSEGV" in results[1].type
        assert pool.restarts == 3


def test_harness_classifies_model_errors(tmp_path, runner):
    not_dicom = tmp_path / "not-dicom.dcm"
    not_dicom.write_bytes(b"hello, world" * 20)
    (result,) = runner.run([str(not_dicom)])
    assert result.outcome == "dicom" and result.type == "NotDicomError"
    assert str(not_dicom) in result.message


@pytest.mark.slow
def test_fuzz_mutants(tmp_path, capsys):
    run_seed = int(os.environ.get("CINEMAP_FUZZ_SEED") or random.SystemRandom().randrange(2**31))
    seeds = load_seeds(tmp_path / "seeds")
    saved = tmp_path / "failures"
    with Runner(workers=2) as pool:
        reports = [
            run_campaign(seeds, FIXED_SEED, FIXED_MUTANTS, tmp_path, pool, saved),
            run_campaign(seeds, run_seed, RUN_MUTANTS, tmp_path, pool, saved),
        ]
    lines = [line for report in reports for line in report.lines()]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    mutants = sum(report.mutants for report in reports)
    counts = {name: sum(report.count(name) for report in reports) for name in ("crash", "hang", "other")}
    assert mutants >= 2000
    assert counts == {"crash": 0, "hang": 0, "other": 0}, (
        f"{counts} in {mutants} mutants (reproduce with `python tests/fuzz --seed N`; "
        f"failing inputs in {saved}, add them to tests/fuzz/regressions/):\n" + "\n".join(lines)
    )
