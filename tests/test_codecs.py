"""The frame decoder: the measured plugin, pydicom's output, reduced decodes for display."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder, pixel_array
from pydicom.pixels.utils import as_pixel_options

from reference_files import reference_files
from viewer.model.codecs import FrameDecoder, as_encapsulated
from viewer.model.codecs import choice, reduced
from viewer.model.codecs.items import codestream
from viewer.model.errors import DicomError, UnsupportedError
from viewer.synthetic.codestreams import encodable, encode_frames

LOSSLESS = {uid.JPEGLossless, uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEG2000Lossless, uid.RLELossless,
            uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL}


def _encapsulated_references() -> list[tuple[Path, pydicom.Dataset]]:
    found = []
    for path in reference_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
            syntax = dataset.file_meta.TransferSyntaxUID
        except Exception:  # noqa: BLE001 -- not DICOM, or no file meta: not a candidate
            continue
        if syntax.is_encapsulated and syntax in choice.PREFERENCES and "Rows" in dataset:
            try:
                _first_frame(path)
            except Exception:  # noqa: BLE001 -- no complete first frame (a truncated sample): nothing to decode
                continue
            found.append((path, dataset))
    return found


def _first_frame(path: Path) -> tuple[bytes, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(path)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        frame = next(generate_frames(dataset.PixelData, number_of_frames=frames))
        options = dict(as_pixel_options(dataset), transfer_syntax_uid=dataset.file_meta.TransferSyntaxUID)
    return frame, options


REFERENCES = _encapsulated_references()


def _pydicom_frame(path: Path, **kwargs) -> np.ndarray | None:
    # From the dataset: pixel_array(path) misreads a few test files whose VR
    # differs from their transfer syntax's, which dcmread handles.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(pydicom.dcmread(path), index=0, **kwargs)
    except Exception:  # noqa: BLE001 -- pydicom cannot decode it with this plugin
        return None


def test_the_real_files_cover_every_family():
    syntaxes = {dataset.file_meta.TransferSyntaxUID for _, dataset in REFERENCES}
    assert {uid.JPEGBaseline8Bit, uid.JPEGLosslessSV1, uid.JPEG2000Lossless, uid.JPEG2000, uid.JPEGLSLossless,
            uid.RLELossless} <= syntaxes


@pytest.mark.parametrize("path", [path for path, _ in REFERENCES], ids=lambda path: path.name)
def test_full_decode_equals_pydicom_with_the_chosen_plugin(path):
    frame, options = _first_frame(path)
    syntax = options["transfer_syntax_uid"]
    decoder = FrameDecoder(str(path), syntax, options)
    expected = _pydicom_frame(path, decoding_plugin=decoder.plugin)
    if expected is None:
        # The chosen plugin fails on this file: the decoder falls back to the
        # next plugin, or raises a DicomError if pydicom cannot decode it at all.
        expected = _pydicom_frame(path)
        if expected is None:
            with pytest.raises(DicomError, match=path.name):
                decoder.decode(frame, index=0)
            return
    array = decoder.decode(frame, index=0)
    assert array.dtype == expected.dtype and array.shape == expected.shape
    np.testing.assert_array_equal(array, expected)
    if syntax in LOSSLESS:  # every plugin gives the same pixels
        default = _pydicom_frame(path)
        np.testing.assert_array_equal(array, default)


def test_choice_follows_the_measured_order():
    assert choice.choose_plugin(uid.JPEGBaseline8Bit, 8, ["gdcm", "pillow", "pylibjpeg"]).plugin == "pillow"
    assert choice.choose_plugin(uid.JPEGBaseline8Bit, 8, ["pillow"]).releases_gil
    assert choice.choose_plugin(uid.JPEGExtended12Bit, 12, ["gdcm", "pillow", "pylibjpeg"]).plugin == "pylibjpeg"
    # GDCM aborts the process on malformed frames: never chosen, not even as a fallback.
    gdcm_offered = choice.choose_plugin(uid.JPEGLossless, 16, ["gdcm", "pylibjpeg"])
    assert gdcm_offered.plugin == "pylibjpeg" and "gdcm" not in gdcm_offered.fallbacks
    assert choice.choose_plugin(uid.JPEGLossless, 16, ["gdcm"]).plugin == ""
    assert choice.choose_plugin(uid.JPEGLossless, 16, ["pylibjpeg"]).plugin == "pylibjpeg"  # no GDCM installed
    assert choice.choose_plugin(uid.JPEGLSLossless, 16, ["gdcm", "pyjpegls", "pylibjpeg"]).plugin == "pyjpegls"
    assert choice.choose_plugin(uid.RLELossless, 16, ["pydicom", "pylibjpeg"]).plugin == "pylibjpeg"
    assert choice.choose_plugin(uid.RLELossless, 16, ["pydicom"]).plugin == "pydicom"
    assert not choice.choose_plugin(uid.JPEG2000Lossless, 16, ["pillow"]).releases_gil
    assert choice.choose_plugin(uid.JPEG2000Lossless, 16, []).plugin == ""


def test_the_installed_plugins_give_the_measured_choice():
    for syntax, bits in ((uid.JPEGBaseline8Bit, 8), (uid.JPEGExtended12Bit, 12), (uid.JPEG2000Lossless, 16),
                         (uid.JPEGLSLossless, 16), (uid.RLELossless, 16), (uid.JPEGLossless, 16)):
        available = get_decoder(syntax).available_plugins
        expected = next(name for name in choice.preferences(syntax, bits) if name in available)
        options = dict(rows=8, columns=8, samples_per_pixel=1, bits_allocated=8 if bits == 8 else 16,
                       bits_stored=bits, pixel_representation=0, photometric_interpretation="MONOCHROME2")
        assert FrameDecoder(None, syntax, options).plugin == expected


def test_a_bare_codestream_decodes_as_its_encapsulated_form():
    frames = encode_frames(uid.JPEGBaseline8Bit, 1, 64, 48)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    wrapped = as_encapsulated(frames.frames[0])
    assert codestream(wrapped).rstrip(b"\x00") == frames.frames[0].rstrip(b"\x00")
    np.testing.assert_array_equal(decoder.decode(frames.frames[0]), decoder.decode(wrapped))
    np.testing.assert_array_equal(decoder.decode(np.frombuffer(wrapped, np.uint8)), decoder.decode(wrapped))


def test_a_plugin_that_fails_falls_back_to_the_next():
    path = next(path for path, _ in REFERENCES if path.name == "GDCMJ2K_TextGBR.dcm")
    frame, options = _first_frame(path)
    decoder = FrameDecoder(str(path), options["transfer_syntax_uid"], options, plugin="pillow")
    assert _pydicom_frame(path, decoding_plugin="pillow") is None  # Pillow cannot decode this one
    np.testing.assert_array_equal(decoder.decode(frame), _pydicom_frame(path, decoding_plugin="pylibjpeg"))


@pytest.mark.parametrize("syntax", [uid.JPEGBaseline8Bit, uid.JPEG2000Lossless, uid.RLELossless, uid.JPEGLSLossless])
def test_garbage_raises_a_dicom_error_naming_the_file(syntax):
    options = dict(rows=16, columns=16, samples_per_pixel=1, bits_allocated=8, bits_stored=8,
                   pixel_representation=0, photometric_interpretation="MONOCHROME2")
    decoder = FrameDecoder("/data/broken.dcm", syntax, options)
    with pytest.raises(UnsupportedError, match=r"broken\.dcm.*frame 7"):
        decoder.decode(b"\x00\x01garbage" * 7, index=7)
    with pytest.raises(UnsupportedError, match=r"broken\.dcm"):
        decoder.decode_reduced(b"\x00\x01garbage" * 7, 4, index=7)


def test_a_syntax_without_decoder_is_unsupported():
    options = dict(rows=4, columns=4, samples_per_pixel=1, bits_allocated=8, bits_stored=8,
                   pixel_representation=0, photometric_interpretation="MONOCHROME2")
    with pytest.raises(UnsupportedError, match="video.dcm"):
        FrameDecoder("video.dcm", uid.MPEG2MPML, options)


# ---------------------------------------------------------------- reduced


def _block_mean(array: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Mean of each factor x factor block, edge-padded to the reduced shape."""
    rows, columns = shape[:2]
    pad = [(0, rows * factor - array.shape[0]), (0, columns * factor - array.shape[1])]
    pad += [(0, 0)] * (array.ndim - 2)
    padded = np.pad(array.astype(np.float64), pad, mode="edge")
    return padded.reshape(rows, factor, columns, factor, *array.shape[2:]).mean(axis=(1, 3))


def _assert_close_to_downsampled(reduced_array, full, factor, tolerance):
    assert reduced_array.dtype == full.dtype
    expected = _block_mean(full, factor, reduced_array.shape)
    error = np.abs(reduced_array.astype(np.float64) - expected)
    scale = float(full.max()) - float(full.min())
    assert error.mean() < tolerance * scale, (error.mean(), scale)


@pytest.mark.parametrize("samples", [1, 3])
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_jpeg_reduced_matches_the_downsampled_full_decode(samples, factor):
    frames = encode_frames(uid.JPEGBaseline8Bit, 1, 240, 320, samples_per_pixel=samples)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    full = decoder.decode(frames.frames[0])
    array, actual = decoder.decode_reduced(frames.frames[0], factor)
    assert actual == factor
    assert array.shape == (-(-240 // factor), -(-320 // factor), *full.shape[2:])
    # YBR -> RGB as the full decode does it: each channel lands near the
    # same channel of the downsampled full frame (a swap or a missing
    # conversion is off by tens of levels). At 1/8 the 4:2:2 chroma keeps
    # one value per 16 x 8 pixels, so colour drifts more there.
    tolerance = 0.05 if samples == 3 and factor == 8 else 0.02
    _assert_close_to_downsampled(array, full, factor, tolerance)
    if samples == 3:
        for channel in range(3):
            _assert_close_to_downsampled(array[..., channel], full[..., channel], factor, tolerance)
        # and equals libjpeg-turbo's own colour conversion of the same scaled
        # decode within rounding
        from PIL import Image

        image = Image.open(io.BytesIO(frames.frames[0]))
        image.draft("RGB", (320 // factor, 240 // factor))
        assert np.abs(array.astype(int) - np.asarray(image.convert("RGB"))).max() <= 2


def test_jpeg_reduced_on_a_real_ultrasound():
    path = next(path for path, _ in REFERENCES if path.name == "color3d_jpeg_baseline.dcm")
    frame, options = _first_frame(path)
    decoder = FrameDecoder(str(path), options["transfer_syntax_uid"], options)
    full = decoder.decode(frame)
    array, actual = decoder.decode_reduced(frame, 2)
    assert actual == 2 and array.shape == (240, 320, 3)
    _assert_close_to_downsampled(array, full, 2, 0.02)


def test_jpeg_factors_are_powers_of_two_up_to_eight():
    frames = encode_frames(uid.JPEGBaseline8Bit, 1, 101, 77)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    for wanted, expected in ((1, 1), (2, 2), (3, 2), (7, 4), (8, 8), (64, 8)):
        array, actual = decoder.decode_reduced(frames.frames[0], wanted)
        assert actual == expected == decoder.reduced_factor(wanted)
        assert array.shape == (-(-101 // actual), -(-77 // actual))
    full, actual = decoder.decode_reduced(frames.frames[0], 1)
    assert actual == 1
    np.testing.assert_array_equal(full, decoder.decode(frames.frames[0]))


@pytest.mark.parametrize("bits", [8, 12, 16])
@pytest.mark.parametrize("factor", [2, 4])
def test_j2k_reduced_matches_the_downsampled_full_decode(bits, factor):
    # Large enough that the rings are well above the reduced Nyquist limit,
    # where the wavelet's low-pass and a box mean agree.
    frames = encode_frames(uid.JPEG2000Lossless, 1, 512, 384, bits_stored=bits)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    full = decoder.decode(frames.frames[0])
    array, actual = decoder.decode_reduced(frames.frames[0], factor)
    assert actual == factor and array.shape == (512 // factor, 384 // factor)
    _assert_close_to_downsampled(array, full, factor, 0.03)


def test_j2k_reduced_on_real_files():
    for name in ("MR2_J2KR.dcm", "US1_J2KI.dcm", "693_J2KR.dcm"):
        path = next((path for path, _ in REFERENCES if path.name == name), None)
        if path is None:
            continue
        frame, options = _first_frame(path)
        decoder = FrameDecoder(str(path), options["transfer_syntax_uid"], options)
        full = decoder.decode(frame)
        array, actual = decoder.decode_reduced(frame, 2)
        assert actual == 2, name
        _assert_close_to_downsampled(array, full, 2, 0.03)


def test_j2k_factor_stops_at_the_codestream_levels():
    frames = encode_frames(uid.JPEG2000Lossless, 1, 256, 256, bits_stored=12)
    levels = reduced.j2k_levels(frames.frames[0])
    assert levels is not None and levels >= 1
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    array, actual = decoder.decode_reduced(frames.frames[0], 1 << (levels + 3))
    assert actual == 1 << levels
    assert array.shape == (-(-256 // actual),) * 2


def test_j2k_sizes_pillow_cannot_reduce_take_a_smaller_factor():
    frames = encode_frames(uid.JPEG2000Lossless, 1, 101, 77, bits_stored=12)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    array, actual = decoder.decode_reduced(frames.frames[0], 4)
    # Pillow would size 77 / 4 as 19, openjpeg decodes 20 columns: factor 2 instead
    assert actual == 2 and array.shape == (51, 39)


def test_syntaxes_without_reduced_decode_give_the_full_frame():
    for syntax, bits in ((uid.RLELossless, 16), (uid.JPEGLSLossless, 12)):
        frames = encode_frames(syntax, 1, 64, 64, bits_stored=bits)
        decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
        array, actual = decoder.decode_reduced(frames.frames[0], 4)
        assert actual == 1
        np.testing.assert_array_equal(array, frames.originals[0])


def test_twelve_bit_jpeg_is_not_reduced():
    path = next(path for path, _ in REFERENCES if path.name == "JPGExtended.dcm")
    frame, options = _first_frame(path)
    decoder = FrameDecoder(str(path), options["transfer_syntax_uid"], options)
    assert decoder.plugin == "pylibjpeg"
    array, actual = decoder.decode_reduced(frame, 4)
    assert actual == 1
    np.testing.assert_array_equal(array, decoder.decode(frame))


@pytest.mark.skipif(not encodable(uid.JPEGLosslessSV1), reason="python-gdcm is not installed")
def test_synthetic_jpeg_lossless_round_trips():
    frames = encode_frames(uid.JPEGLosslessSV1, 2, 48, 40, bits_stored=12)
    decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
    for data, original in zip(frames.frames, frames.originals):
        np.testing.assert_array_equal(decoder.decode(data), original)
