"""Video frame source: frame-accurate random access over MPEG-2, H.264 and HEVC DICOM video.

Every frame is compared with PyAV's own sequential decode of the same stream
(reassembled by pydicom, decoded by ``container.decode``) and must carry its
own index (:func:`viewer.synthetic.video.frame_index_of`).
"""

from __future__ import annotations

import random
import sys
import threading

import numpy as np
import pytest

from video_helpers import CountingReader, open_source, reference_frames, stream_of
from viewer.model.errors import DicomError
from viewer.model.frames.video_codec import EDIT_REFUSAL, VIDEO_SYNTAXES
from viewer.model.frames.video_io import FragmentTable, StreamFile
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.diskcache import DiskFrameCache
from viewer.synthetic.video import FRAGMENTABLE, frame_index_of, write_video

FRAMES = 75


@pytest.fixture(scope="module")
def video_files(tmp_path_factory):
    """Write each (syntax, options) file once per module."""
    folder = tmp_path_factory.mktemp("video")
    written = {}

    def make(transfer_syntax, frames=FRAMES, **options):
        key = (transfer_syntax, frames, tuple(sorted(options.items())))
        if key not in written:
            path = folder / f"video-{len(written)}.dcm"
            written[key] = write_video(path, frames, transfer_syntax=transfer_syntax, **options)
        return written[key]

    return make


def _check_random_order(source, reference, seed=7):
    order = list(range(len(reference)))
    random.Random(seed).shuffle(order)
    for index in order:
        frame = source.frame(index)
        assert frame.shape == (source.frame_shape) and frame.dtype == np.uint8
        assert np.array_equal(frame, reference[index]), f"frame {index} differs from PyAV's sequential decode"


_VARIANTS = [(uid, None, False) for uid in sorted(VIDEO_SYNTAXES)]
_VARIANTS += [(uid, 700, False) for uid in sorted(FRAGMENTABLE)]
_VARIANTS += [("1.2.840.10008.1.2.4.102.1", 700, True), ("1.2.840.10008.1.2.4.100", None, True)]


@pytest.mark.parametrize("transfer_syntax, fragment_bytes, bot", _VARIANTS)
def test_random_order_equals_sequential_decode(video_files, transfer_syntax, fragment_bytes, bot):
    written = video_files(transfer_syntax, fragment_bytes=fragment_bytes, basic_offset_table=bot)
    if fragment_bytes:
        assert written.fragments > 1
    reference = reference_frames(written.path, transfer_syntax)
    assert [frame_index_of(frame) for frame in reference] == list(range(FRAMES))
    source, reader = open_source(written.path, transfer_syntax, FRAMES)
    try:
        _check_random_order(source, reference)
    finally:
        source.close()
        reader.close()


@pytest.mark.parametrize("transfer_syntax", ["1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.102.1",
                                             "1.2.840.10008.1.2.4.107"])
def test_open_gops_decode_their_leading_frames(video_files, transfer_syntax):
    written = video_files(transfer_syntax, open_gop=True, gop_frames=12, b_frames=2)
    reference = reference_frames(written.path, transfer_syntax)
    source, reader = open_source(written.path, transfer_syntax, FRAMES)
    try:
        _check_random_order(source, reference, seed=11)
        learned = {key: source.decoder.lead_of(key) for key in source.index.keys()}
        assert any(lead for lead in learned.values()), "no open GOP with leading pictures was exercised"
    finally:
        source.close()
        reader.close()


def test_step_back_decodes_from_the_gop_not_the_start(video_files):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=150, gop_frames=30)
    reference = reference_frames(written.path, syntax)
    source, reader = open_source(written.path, syntax, 150)
    try:
        assert np.array_equal(source.frame(130), reference[130])
        decoder = source.decoder
        assert decoder.run_starts == [120]
        fed = decoder.packets_fed
        for index in range(129, 119, -1):  # inside the GOP: kept frames, nothing decoded
            assert np.array_equal(source.frame(index), reference[index])
        assert decoder.packets_fed == fed
        for index in range(119, 85, -1):  # into the GOP before: decoded once from its key
            assert np.array_equal(source.frame(index), reference[index])
        assert decoder.run_starts == [120, 90, 60]
        assert decoder.packets_fed - fed <= 30 + 30 + 8  # two GOPs and the decoder's delay
    finally:
        source.close()
        reader.close()


def test_prefetch_decodes_the_previous_gop_ahead_of_a_step_back(video_files):
    """The read-ahead prefetches in the direction of play: stepping back past a GOP start is then a cache hit."""
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=90, gop_frames=30)
    reference = reference_frames(written.path, syntax)
    source, reader = open_source(written.path, syntax, 90)
    try:
        assert np.array_equal(source.frame(60), reference[60])
        source.prefetch(range(59, 51, -1))  # what the read-ahead asks for when stepping backwards
        starts, fed = list(source.decoder.run_starts), source.decoder.packets_fed
        for index in range(59, 51, -1):
            assert np.array_equal(source.frame(index), reference[index])
        assert source.decoder.run_starts == starts and source.decoder.packets_fed == fed  # nothing decoded now
        assert 30 in starts  # the previous GOP was decoded by the prefetch
    finally:
        source.close()
        reader.close()


def test_sequential_reading_decodes_each_packet_once(video_files):
    syntax = "1.2.840.10008.1.2.4.101"
    written = video_files(syntax, frames=FRAMES)
    reference = reference_frames(written.path, syntax)
    source, reader = open_source(written.path, syntax, FRAMES)
    try:
        for index in range(FRAMES):
            assert np.array_equal(source.frame(index), reference[index])
        assert source.decoder.run_starts == [0]
        assert source.decoder.packets_fed == FRAMES
    finally:
        source.close()
        reader.close()


def test_first_frame_needs_no_full_scan(video_files):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=300, rows=240, columns=320)  # a stream well past FFmpeg's probe
    reference = reference_frames(written.path, syntax)
    reader = CountingReader(written.path)
    reader.limit = written.value_offset + len(stream_of(written.path)) // 2  # the second half waits
    reader.index_gate.clear()
    source, _ = open_source(written.path, syntax, 300, reader=reader)
    try:
        assert np.array_equal(source.frame(0), reference[0])  # would wait for ever if the scan were needed
        assert not source.index.done
        reader.index_gate.set()
        assert source.index.wait_done(60)
        assert source.index.count == 300
    finally:
        reader.index_gate.set()
        source.close()
        reader.close()


def test_a_long_stream_opens_like_a_short_one(video_files):
    syntax = "1.2.840.10008.1.2.4.102.1"
    opened = []
    for frames in (30, 1500):
        written = video_files(syntax, frames=frames, fragment_bytes=512)
        reader = CountingReader(written.path)
        reader.limit = written.value_offset + 8  # the index thread may not read the stream yet
        reader.index_gate.clear()
        source, _ = open_source(written.path, syntax, frames, reader=reader)
        opened.append(reader.bytes_read)
        reader.index_gate.set()
        assert source.index.wait_done(60)
        assert source.index.count == frames
        # The index holds 8 bytes per packet and per key picture, nothing else.
        assert source.index.nbytes == 8 * (frames + len(source.index.keys()))
        source.close()
        reader.close()
    assert opened[0] == opened[1] == 8  # the Basic Offset Table item header, whatever the length


def test_memory_is_bounded_by_the_budgets(video_files):
    syntax = "1.2.840.10008.1.2.4.104"
    written = video_files(syntax, frames=FRAMES)
    reference = reference_frames(written.path, syntax)
    frame_bytes = reference[0].nbytes
    cache = FrameCache(5 * frame_bytes)
    source, reader = open_source(written.path, syntax, FRAMES, cache=cache, hold_bytes=1)
    try:
        _check_random_order(source, reference, seed=3)
        assert len(source.decoder._held) <= 8
        assert cache.nbytes <= 5 * frame_bytes
    finally:
        source.close()
        reader.close()


def test_disk_cache_serves_frames_without_decoding(video_files, tmp_path):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=FRAMES)
    reference = reference_frames(written.path, syntax)
    shape = reference[0].shape
    first = DiskFrameCache.open(tmp_path, str(written.path), 1, 1, FRAMES, shape, np.uint8, 64 << 20)
    source, reader = open_source(written.path, syntax, FRAMES, disk_cache=first)
    for index in range(0, FRAMES, 5):
        source.frame(index)
    source.close()
    first.close()
    second = DiskFrameCache.open(tmp_path, str(written.path), 1, 1, FRAMES, shape, np.uint8, 64 << 20)
    again, _ = open_source(written.path, syntax, FRAMES, reader=reader, disk_cache=second)
    try:
        for index in range(0, FRAMES, 5):
            assert np.array_equal(again.frame(index), reference[index])
        assert again.decoder.packets_fed == 0
    finally:
        again.close()
        second.close()
        reader.close()


def test_concurrent_readers_get_the_right_frames(video_files):
    syntax = "1.2.840.10008.1.2.4.107"
    written = video_files(syntax, frames=FRAMES)
    reference = reference_frames(written.path, syntax)
    source, reader = open_source(written.path, syntax, FRAMES, cache=FrameCache(0))
    failures = []

    def read(seed):
        order = list(range(FRAMES))
        random.Random(seed).shuffle(order)
        for index in order[:40]:
            if not np.array_equal(source.frame(index), reference[index]):
                failures.append(index)

    threads = [threading.Thread(target=read, args=(seed,)) for seed in (1, 2, 3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
    finally:
        source.close()
        reader.close()


def test_frames_past_the_stream_are_an_error(video_files):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=FRAMES)
    source, reader = open_source(written.path, syntax, FRAMES, num_frames=FRAMES + 10)
    try:
        assert frame_index_of(source.frame(FRAMES - 1)) == FRAMES - 1
        with pytest.raises(DicomError, match="not in the video stream"):
            source.frame(FRAMES + 2)
    finally:
        source.close()
        reader.close()


def test_truncated_file_gives_frames_before_the_cut_then_an_error(video_files, tmp_path):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=FRAMES)
    data = written.path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: written.value_offset + 16 + written.stream_bytes // 2])
    source, reader = open_source(cut, syntax, FRAMES)
    try:
        assert frame_index_of(source.frame(3)) == 3
        with pytest.raises(DicomError):
            source.frame(FRAMES - 1)
    finally:
        source.close()
        reader.close()


def test_pixel_data_not_starting_with_an_item_is_refused(video_files, tmp_path):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=FRAMES)
    data = bytearray(written.path.read_bytes())
    data[written.value_offset : written.value_offset + 4] = b"\x00\x00\x00\x00"
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(bytes(data))
    reader = CountingReader(broken)
    with pytest.raises(DicomError, match="Basic Offset Table"):
        open_source(broken, syntax, FRAMES, reader=reader)
    reader.close()


def test_stream_file_reads_and_seeks_across_fragments(video_files):
    syntax = "1.2.840.10008.1.2.4.100.1"
    written = video_files(syntax, frames=FRAMES, fragment_bytes=700, basic_offset_table=True)
    stream = stream_of(written.path)
    reader = CountingReader(written.path)
    table = FragmentTable(str(written.path), reader, written.value_offset, reader.size)
    handle = StreamFile(table)
    try:
        assert handle.read(1000) == stream[:1000]
        handle.seek(695)
        assert handle.read(20) == stream[695:715]
        assert handle.seek(-10, 2) >= len(stream) - 10  # an upper bound until every fragment is found
        assert table.length() == len(stream)
        assert handle.seek(-10, 2) == len(stream) - 10
        assert handle.read() == stream[-10:]
        assert table.fragments_found == written.fragments
    finally:
        reader.close()


def test_describe_reports_codec_profile_gop_and_frames(video_files):
    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=150, gop_frames=30)
    source, reader = open_source(written.path, syntax, 150)
    try:
        info = source.describe(timeout=60)
        assert info["codec"] == "h264" and info["profile"] == "High"
        assert info["gop_length"] == 30 and info["key_frames"] == 5 and info["closed_gops"] == 5
        assert info["pictures"] == info["frames_declared"] == 150
        assert info["stream_frame_rate"] == 30.0
        assert source.frame_time_ms == pytest.approx(1000 / 30, abs=1e-3)
    finally:
        source.close()
        reader.close()


def test_editing_is_refused_with_a_reason(video_files):
    written = video_files("1.2.840.10008.1.2.4.102", frames=FRAMES)
    source, reader = open_source(written.path, "1.2.840.10008.1.2.4.102", FRAMES)
    try:
        assert source.edit_refusal == EDIT_REFUSAL
        assert "video" in source.edit_refusal
    finally:
        source.close()
        reader.close()


def test_missing_pyav_is_a_clear_error(video_files, monkeypatch):
    written = video_files("1.2.840.10008.1.2.4.102", frames=FRAMES)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(DicomError, match="pip install av"):
        open_source(written.path, "1.2.840.10008.1.2.4.102", FRAMES)


def test_cli_describes_a_video_source(video_files):
    from viewer import cli

    syntax = "1.2.840.10008.1.2.4.102"
    written = video_files(syntax, frames=60, gop_frames=12)
    source, reader = open_source(written.path, syntax, 60)

    class VideoDocument:  # what Document offers once it holds a frame source
        pass

    VideoDocument.source = source

    try:
        report = cli._video_report(VideoDocument())
        lines = cli.format_video(report["video"])
        assert report["video"]["codec"] == "h264" and report["video"]["gop_length"] == 12
        assert lines[0] == ("Video stream:    H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 High, 128x96 yuv420p, "
                            "30 fps in the stream")
        assert lines[1].startswith("GOP:             12 frames (5 key frames")
        assert lines[2] == "Pictures:        60 in the stream, 60 in Number of Frames"
        assert cli._video_report(object()) == {}
    finally:
        source.close()
        reader.close()


@pytest.mark.parametrize("transfer_syntax, fragment_bytes", [("1.2.840.10008.1.2.4.101", None),
                                                             ("1.2.840.10008.1.2.4.102.1", 700),
                                                             ("1.2.840.10008.1.2.4.108", None)])
def test_documents_open_video_files(video_files, transfer_syntax, fragment_bytes):
    from viewer.model import open_document

    written = video_files(transfer_syntax, fragment_bytes=fragment_bytes)
    reference = reference_frames(written.path, transfer_syntax)
    with open_document(written.path) as document:
        assert document.num_frames == FRAMES and document.frame_shape == (96, 128, 3)
        assert document.dtype == np.uint8
        assert document.edit_refusal() == EDIT_REFUSAL
        assert document.frame_time_ms == pytest.approx(1000 / 30, abs=1e-3)
        for index in (40, 3, FRAMES - 1, 0, 39):
            assert np.array_equal(document.frame(index), reference[index])


def test_cinemap_info_describes_a_video_file(video_files, capsys):
    from viewer import cli

    written = video_files("1.2.840.10008.1.2.4.102", frames=60, gop_frames=12)
    assert cli.main(["info", str(written.path)]) == 0
    text = capsys.readouterr().out
    assert "GOP:             12 frames (5 key frames, 5 closed)" in text
    assert "Pictures:        60 in the stream, 60 in Number of Frames" in text
    assert EDIT_REFUSAL in text
