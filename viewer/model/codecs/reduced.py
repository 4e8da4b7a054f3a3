"""Reduced decodes for display: JPEG's DCT scaling and JPEG 2000's resolution levels.

A zoomed-out view shows a 1024 x 1024 frame in 256 screen pixels; decoding
it whole and then throwing three quarters away is the cost napari measured
at 200 ms a slice (BACKGROUND.md). JPEG can do the inverse DCT at 1/2, 1/4
or 1/8 of the size (libjpeg-turbo's scaled IDCT, Pillow's ``Image.draft``)
and JPEG 2000 can stop the wavelet synthesis before the finest levels
(openjpeg's ``reduce``, Pillow's ``Jpeg2KImageFile.reduce``); both skip most
of the work.

The reduced frame still goes through pydicom's pipeline: this module is a
pydicom *decoding plugin* (``is_available``, ``DECODER_DEPENDENCIES`` and a
decode function, the contract of ``pydicom.pixels.decoders``) registered on
private ``Decoder`` instances, never on pydicom's shared ones, and called
with Rows and Columns set to the reduced size. So pydicom's processing --
YBR to RGB, sign correction, bit shifts -- is applied to the reduced frame
exactly as to a full one, and colour matches the full decode within
rounding. pydicom offers no reduced decode to compare with: reduced frames
are for display only.
"""

from __future__ import annotations

import functools
import threading
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom import uid
from pydicom.pixels.decoders.base import Decoder

from viewer.model.codecs import choice
from viewer.model.codecs.items import codestream

if TYPE_CHECKING:
    from pydicom.pixels.decoders.base import DecodeRunner


__all__ = ["actual_factor", "decode_reduced", "j2k_levels", "reduced_size"]

PLUGIN = "cinemap_reduced"
MAX_JPEG_FACTOR = 8
_FACTOR_OPTION = "cinemap_reduce"

DECODER_DEPENDENCIES = {syntax: ("pillow>=10.0",) for syntax in choice.REDUCED_KINDS}

_decoders: dict[str, Decoder] = {}
_decoders_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def is_available(transfer_syntax: str) -> bool:
    """pydicom plugin contract: Pillow can decode this syntax (asked once per syntax)."""
    kind = choice.REDUCED_KINDS.get(transfer_syntax)
    if kind is None:
        return False
    try:
        from PIL import features
    except ImportError:
        return False
    return bool(features.check_codec("jpg" if kind == "jpeg" else "jpg_2000"))


def _private_decoder(transfer_syntax: str) -> Decoder | None:
    """A pydicom Decoder for `transfer_syntax` that has only this plugin (None: Pillow lacks the codec)."""
    with _decoders_lock:  # Decoder.add_plugin is not thread-safe
        if transfer_syntax not in _decoders:
            decoder = Decoder(uid.UID(transfer_syntax))
            decoder.add_plugin(PLUGIN, (__name__, "decode_frame"))
            _decoders[transfer_syntax] = decoder
        decoder = _decoders[transfer_syntax]
    return decoder if PLUGIN in decoder.available_plugins else None


def j2k_levels(codestream: bytes) -> int | None:
    """Number of wavelet decomposition levels in a JPEG 2000 main header (COD), or None.

    The main header runs from SOC (FF4F) to the first SOT (FF90); COD's
    SPcod starts with the level count, 9 bytes after the marker.
    """
    position = 2 if codestream[:2] == b"\xff\x4f" else -1
    while 0 <= position and position + 4 <= len(codestream):
        marker = codestream[position:position + 2]
        if marker == b"\xff\x90":
            return None
        length = int.from_bytes(codestream[position + 2:position + 4], "big")
        if marker == b"\xff\x52":
            return codestream[position + 9] if position + 9 < len(codestream) else None
        position += 2 + length
    return None


def _first_fragment(data: bytes) -> bytes:
    """The start of the frame's codestream in encapsulated `data` (enough for its main header)."""
    return codestream(data[:65536]) if data[:4] == b"\xfe\xff\x00\xe0" else data[:65536]


def actual_factor(decoder: Any, factor: int, data: bytes | None = None) -> int:
    """The shrink factor a reduced decode of `factor` gives (1: none; see ``decode_reduced``)."""
    kind = choice.REDUCED_KINDS.get(decoder.transfer_syntax)
    options = decoder.options
    if kind is None or factor < 2 or not is_available(decoder.transfer_syntax):
        return 1
    limit = min(int(options["rows"]), int(options["columns"]))
    if kind == "jpeg":
        if int(options.get("bits_stored", 8)) > 8:
            return 1  # Pillow decodes 8-bit JPEG only
        limit = min(limit, MAX_JPEG_FACTOR)
    elif data is not None:
        levels = j2k_levels(_first_fragment(bytes(data)))
        if levels is None:
            return 1
        limit = min(limit, 1 << levels)
    actual, rows, columns = 1, int(options["rows"]), int(options["columns"])
    while actual * 2 <= min(factor, limit):
        actual *= 2
    while kind == "j2k" and actual > 1 and not _pillow_j2k_fits(rows, columns, actual):
        actual //= 2
    return actual


def reduced_size(size: int, factor: int) -> int:
    """Rows or columns of a frame decoded at 1/`factor`: rounded up (libjpeg, openjpeg)."""
    return -(-size // factor)


def _pillow_j2k_fits(rows: int, columns: int, factor: int) -> bool:
    """Pillow sizes a reduced JPEG 2000 image ``(size + factor / 2) // factor``
    while openjpeg decodes ``ceil(size / factor)``; where the two differ Pillow
    fails ("broken data stream"), so such factors are not offered."""
    return all((size + factor // 2) // factor == reduced_size(size, factor) for size in (rows, columns))


def decode_reduced(decoder: Any, source: bytes, factor: int,
                   index: int | None = None) -> tuple[np.ndarray, int]:
    """See :meth:`viewer.model.codecs.decoder.FrameDecoder.decode_reduced`."""
    actual = actual_factor(decoder, factor, source)
    private = _private_decoder(decoder.transfer_syntax) if actual > 1 else None
    if private is not None:
        options = dict(decoder.options)
        options.update(rows=reduced_size(int(options["rows"]), actual),
                       columns=reduced_size(int(options["columns"]), actual))
        options[_FACTOR_OPTION] = actual
        try:
            array, _ = private.as_array(source, index=0, decoding_plugin=PLUGIN, **options)
            return array, actual
        except Exception:  # noqa: BLE001 -- Pillow cannot do this one (e.g. >8-bit colour J2K): full decode
            pass
    return decoder.decode(source, index), 1


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes | bytearray:
    """pydicom plugin contract: the frame at the runner's reduced Rows x Columns."""
    from PIL import Image

    factor = int(runner.get_option(_FACTOR_OPTION, 1))
    image = Image.open(BytesIO(src), formats=("JPEG", "JPEG2000"))
    if choice.REDUCED_KINDS[runner.transfer_syntax] == "jpeg":
        data = _jpeg_scaled(image, factor, runner)
    else:
        data = _j2k_reduced(image, factor, runner)
    return data


def _check_size(image, runner: DecodeRunner) -> None:
    if image.size != (runner.columns, runner.rows):
        raise ValueError(f"reduced image is {image.size}, expected {(runner.columns, runner.rows)}")


def _jpeg_scaled(image, factor: int, runner: DecodeRunner) -> bytes:
    # As pydicom's Pillow plugin: colour without an Adobe APP14 transform flag
    # is decoded as stored (YCbCr), and pydicom converts it after.
    mode = "YCbCr" if runner.samples_per_pixel != 1 and "adobe_transform" not in image.info else None
    width, height = image.size
    # draft() picks the largest scale with size * scale <= the request's
    # multiple: ask for the floor so the scale is exactly `factor`.
    image.draft(mode, (max(1, width // factor), max(1, height // factor)))
    _check_size(image, runner)
    return image.tobytes()


def _j2k_reduced(image, factor: int, runner: DecodeRunner) -> bytes:
    """Pillow's JPEG 2000 decode at 1/`factor`, post-processed as pydicom's Pillow plugin does.

    The processing after ``tobytes`` follows pydicom 3.0.2's
    ``pixels/decoders/pillow.py`` (its function opens the image itself, so it
    cannot be handed a reduced one).
    """
    image.reduce = factor.bit_length() - 1
    image.load()
    _check_size(image, runner)
    precision = runner.get_option("j2k_precision", runner.bits_stored)
    if 0 < precision <= 8:
        runner.set_option("bits_allocated", 8)
    elif 8 < precision <= 16 and runner.samples_per_pixel == 1:
        runner.set_option("bits_allocated", 16)
    else:
        raise ValueError(f"Pillow cannot decode {precision}-bit data with {runner.samples_per_pixel} samples")
    buffer = bytearray(image.tobytes())
    dtype = runner.pixel_dtype
    array = np.frombuffer(buffer, dtype=f"u{dtype.itemsize}")
    signed = runner.pixel_representation
    if runner.get_option("apply_j2k_sign_correction", False):
        signed = runner.get_option("j2k_is_signed", signed)
    if signed and runner.pixel_representation == 1:
        array = array.view(dtype)
        array -= np.int32(2 ** (runner.bits_allocated - 1))
    if shift := runner.bits_allocated - precision:
        np.right_shift(array, shift, out=array)
    if runner.photometric_interpretation in ("YBR_ICT", "YBR_RCT"):
        runner.set_option("photometric_interpretation", "RGB")  # Pillow returns them as RGB
    return array.tobytes()
