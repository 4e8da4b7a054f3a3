"""Compressed frames of the synthetic cine, in memory, for decoder tests and benchmarks.

:func:`encode_frames` takes frames from :func:`viewer.synthetic.cine.expected_frame`
(ultrasound-like speckle for 8-bit, rings for 16-bit; each frame moves) and
compresses each with a real encoder: Pillow (libjpeg-turbo) for JPEG
Baseline, pydicom's encoders for RLE, JPEG-LS (pyjpegls) and JPEG 2000
(openjpeg), GDCM for JPEG Lossless when it is installed. Nothing is written
to disk: a decoder benchmark needs the codestreams and the pydicom options,
not a file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom import uid

from viewer.synthetic.cine import expected_frame

__all__ = ["EncodedFrames", "encode_frames", "encodable"]

_PYDICOM_ENCODED = (uid.RLELossless, uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless, uid.JPEG2000)


@dataclass
class EncodedFrames:
    """Codestreams of a short synthetic cine and what pydicom needs to decode them.

    Attributes
    ----------
    transfer_syntax : str
    options : dict
        Image Pixel values as pydicom's decoding options (``rows``, ``columns``,
        ``samples_per_pixel``, ``bits_allocated``, ``bits_stored``,
        ``pixel_representation``, ``photometric_interpretation`` ...).
    frames : list of bytes
        One bare codestream per frame.
    originals : list of numpy.ndarray
        The frames before compression.
    """

    transfer_syntax: str
    options: dict[str, Any]
    frames: list[bytes] = field(default_factory=list)
    originals: list[np.ndarray] = field(default_factory=list)

    @property
    def description(self) -> str:
        o = self.options
        return (f"{o['columns']}x{o['rows']} {o['bits_stored']}-bit {o['photometric_interpretation']} "
                f"{uid.UID(self.transfer_syntax).name}")


def encodable(transfer_syntax: str) -> bool:
    """True if :func:`encode_frames` can make frames of this syntax here."""
    if transfer_syntax == uid.JPEGBaseline8Bit:
        return _has_module("PIL")
    if transfer_syntax == uid.JPEGLosslessSV1:
        return _has_module("gdcm")
    if transfer_syntax in _PYDICOM_ENCODED:
        from pydicom.pixels import get_encoder

        return get_encoder(transfer_syntax).is_available
    return False


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def encode_frames(transfer_syntax: str, count: int, rows: int, columns: int, *, samples_per_pixel: int = 1,
                  bits_stored: int = 8, quality: int = 90, compression_ratio: float = 10.0) -> EncodedFrames:
    """Encode `count` frames of the synthetic cine.

    Parameters
    ----------
    transfer_syntax : str
        JPEG Baseline (8-bit; colour is stored YBR_FULL_422), JPEG Lossless
        SV1 (needs python-gdcm), RLE Lossless, JPEG-LS Lossless or
        Near-Lossless, JPEG 2000 Lossless, or JPEG 2000 (lossy).
    count, rows, columns : int
    samples_per_pixel : int, optional
        1 (grey) or 3 (colour, 8-bit only).
    bits_stored : int, optional
        Up to 8 (8-bit samples) or up to 16 (16-bit samples holding values
        below ``2**bits_stored``).
    quality : int, optional
        JPEG Baseline quality.
    compression_ratio : float, optional
        Lossy JPEG 2000's compression ratio.

    Raises
    ------
    ValueError
        If the syntax or format cannot be encoded here (see :func:`encodable`).
    """
    if not encodable(transfer_syntax):
        raise ValueError(f"cannot encode {transfer_syntax} here")
    bits_allocated = 8 if bits_stored <= 8 else 16
    if samples_per_pixel == 3 and bits_allocated != 8:
        raise ValueError("colour frames are 8-bit")
    colour_jpeg = transfer_syntax == uid.JPEGBaseline8Bit and samples_per_pixel == 3
    photometric = "YBR_FULL_422" if colour_jpeg else ("RGB" if samples_per_pixel == 3 else "MONOCHROME2")
    options: dict[str, Any] = dict(
        rows=rows, columns=columns, samples_per_pixel=samples_per_pixel, bits_allocated=bits_allocated,
        bits_stored=bits_stored, pixel_representation=0, photometric_interpretation=photometric,
        transfer_syntax_uid=uid.UID(transfer_syntax), number_of_frames=1)
    if samples_per_pixel == 3:
        options["planar_configuration"] = 0
    result = EncodedFrames(uid.UID(transfer_syntax), options)
    for index in range(count):
        image = _frame(index, rows, columns, samples_per_pixel, bits_stored)
        result.originals.append(image)
        result.frames.append(_encode(image, result, quality, compression_ratio))
    return result


def _frame(index: int, rows: int, columns: int, samples: int, bits_stored: int) -> np.ndarray:
    if bits_stored <= 8:
        image = expected_frame(index, rows=rows, columns=columns, bits_allocated=8, samples_per_pixel=samples,
                               kind="us")
    else:
        image = expected_frame(index, rows=rows, columns=columns, bits_allocated=16, samples_per_pixel=samples)
        # Noise as an MR or CT image has it: the rings alone compress far better
        # than real 16-bit images and would flatter the decoders.
        noise = np.random.default_rng(index).normal(1.0, 0.05, image.shape)
        image = np.clip(image * noise, 0, 65535).astype(np.uint16)
    image = np.ascontiguousarray(image)
    return image >> (image.dtype.itemsize * 8 - bits_stored) if bits_stored not in (8, 16) else image


def _encode(image: np.ndarray, frames: EncodedFrames, quality: int, compression_ratio: float) -> bytes:
    syntax = frames.transfer_syntax
    if syntax == uid.JPEGBaseline8Bit:
        from PIL import Image

        buffer = io.BytesIO()
        # subsampling=1 is 4:2:2, DICOM's YBR_FULL_422
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=1)
        return buffer.getvalue()
    if syntax == uid.JPEGLosslessSV1:
        return _gdcm_jpeg_lossless(image, frames.options)
    from pydicom.pixels import get_encoder

    extra: dict[str, Any] = {}
    if syntax == uid.JPEG2000:
        extra["j2k_cr"] = [compression_ratio]
    if syntax == uid.JPEGLSNearLossless:
        extra["jls_error"] = 2
    options = {key: value for key, value in frames.options.items() if key != "transfer_syntax_uid"}
    return get_encoder(syntax).encode(image.tobytes(), **options, **extra)


def _gdcm_jpeg_lossless(image: np.ndarray, options: dict[str, Any]) -> bytes:
    """JPEG Lossless SV1 through GDCM (pydicom has no JPEG encoder)."""
    import gdcm

    rows, columns = image.shape[:2]
    samples = options["samples_per_pixel"]
    source = gdcm.Image()
    source.SetNumberOfDimensions(2)
    source.SetDimensions((columns, rows, 1))
    bits = options["bits_stored"]
    source.SetPixelFormat(gdcm.PixelFormat(samples, options["bits_allocated"], bits, bits - 1, 0))
    kind = gdcm.PhotometricInterpretation.RGB if samples == 3 else gdcm.PhotometricInterpretation.MONOCHROME2
    source.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(kind))
    source.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.ImplicitVRLittleEndian))
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetByteStringValue(image.tobytes())
    source.SetDataElement(element)
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(source)
    # SetInput keeps a counted reference to the image: Python must not free
    # it first (GDCM aborts the process on "ReferenceCount > 0").
    source.thisown = False
    if not change.Change():
        raise ValueError("GDCM could not encode the frame")
    fragments = change.GetOutput().GetDataElement().GetSequenceOfFragments()
    fragment = fragments.GetFragment(0)
    # GDCM hands bytes back as str; surrogateescape restores them (as pydicom's gdcm plugin does)
    return fragment.GetByteValue().GetBuffer().encode("utf-8", "surrogateescape")
