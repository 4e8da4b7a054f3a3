"""Which pydicom decoding plugin decodes each transfer syntax fastest, as measured.

pydicom tries its plugins in a fixed order (``gdcm``, ``pillow``,
``pylibjpeg`` ... by name) and uses the first that works; that order is not
a speed order. :data:`PREFERENCES` lists, per transfer syntax, the plugins
fastest first, from ``cinemap bench --decoders`` on this project's 2-core
machine (pydicom 3.0.2, Pillow 13 with libjpeg-turbo, python-gdcm 3.2.6,
pylibjpeg-libjpeg 2.5, -openjpeg 2.6, -rle 2.2, pyjpegls 1.5): CPU ms per
frame, median, through ``Decoder.as_array(..., decoding_plugin=NAME)``, all
plugins timed in turns on the same frames:

=========================  ======================  ===========================
transfer syntax            frame                   pillow / gdcm / pylibjpeg
                                                   / pyjpegls / pydicom (ms)
=========================  ======================  ===========================
JPEG Baseline              1024 x 1024 grey        4.2 / 13.4 / 16.2
JPEG Baseline              640 x 480 YBR_FULL_422  5.7 / 13.8 / 12.2
JPEG Extended 12-bit       1024 x 256 (real)       fails / fails / 2.4
JPEG Lossless SV1          1024 x 1024 12-bit      - / 36 / 52
JPEG Lossless SV1          1024 x 768 8-bit (real) - / 6.8 / 18.8
JPEG-LS lossless           1024 x 1024 12-bit      - / 48 / 101 / 27
JPEG 2000 lossless         1024 x 1024 16-bit      196 / 219 / 196
JPEG 2000 lossless         MR2_J2KR 1024 x 1024    89 / 101 / 90
JPEG 2000 (10:1)           1024 x 1024 12-bit      26 / 43 / 25
RLE Lossless               1024 x 1024 16-bit      - / - / 2.1 / - / 6.9
HTJ2K                      (no sample file)        pylibjpeg only
=========================  ======================  ===========================

GDCM (python-gdcm) is measured in the table but never used: see :data:`NEVER`.
Pillow refuses 12-bit JPEG, gdcm too (pydicom's plugins say so), so JPEG
Extended above 8 bits has pylibjpeg alone. For JPEG 2000, Pillow is as fast
as pylibjpeg but cannot decode some files (GDCMJ2K_TextGBR.dcm) nor colour
above 8 bits, so it comes after. Lossless syntaxes give the same array from
every plugin (checked on every real file of pydicom-data and pydicom's test
files); lossy JPEG differs between plugins by rounding and chroma upsampling
(Pillow and gdcm agree, pylibjpeg's libjpeg upsamples 4:2:2 chroma
differently). Colour JPEG through pydicom costs about three times Pillow's
own decode to RGB: pydicom decodes to YCbCr and converts to RGB in numpy
(``convert_color_space``), which is part of being equal to its output.

:data:`GIL_FREE` is measured too (``cinemap bench --decoders``, GIL rows):
while Pillow's JPEG decoder runs, another Python thread runs almost as
freely as beside a C call known to release the GIL; every other plugin
keeps it waiting for the whole frame, as a C call known to hold the GIL
does (Pillow's JPEG 2000 decoder too: it reads through Python). Those
decode in worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom import uid

__all__ = ["DecoderChoice", "GIL_FREE", "NEVER", "PREFERENCES", "choose_plugin"]

NEVER = frozenset({"gdcm"})
"""Plugins never used, even where installed: GDCM aborts the process (an uncaught C++
``gdcm::Exception``, SIGABRT) on malformed frames, which the fuzzer found within
minutes; it was the fastest JPEG Lossless decoder (6.8 ms against pylibjpeg's
18.8 on a real 8-bit frame), but no speed is worth a crash on a patient's file.
"""

_JPEG_8BIT = ("pillow", "pylibjpeg")
_J2K = ("pylibjpeg", "pillow")

PREFERENCES: dict[str, tuple[str, ...]] = {
    uid.JPEGBaseline8Bit: _JPEG_8BIT,
    uid.JPEGExtended12Bit: _JPEG_8BIT,  # 8-bit samples; see choose_plugin for 12-bit
    uid.JPEGLossless: ("pylibjpeg",),
    uid.JPEGLosslessSV1: ("pylibjpeg",),
    uid.JPEGLSLossless: ("pyjpegls", "pylibjpeg"),
    uid.JPEGLSNearLossless: ("pyjpegls", "pylibjpeg"),
    uid.JPEG2000Lossless: _J2K,
    uid.JPEG2000: _J2K,
    uid.HTJ2KLossless: ("pylibjpeg",),
    uid.HTJ2KLosslessRPCL: ("pylibjpeg",),
    uid.HTJ2K: ("pylibjpeg",),
    uid.RLELossless: ("pylibjpeg", "pydicom"),
}
"""Plugins per transfer syntax, fastest first (measured; see the module docstring)."""

_JPEG_12BIT = ("pylibjpeg",)

GIL_FREE: frozenset[tuple[str, str]] = frozenset({
    ("pillow", uid.JPEGBaseline8Bit),
    ("pillow", uid.JPEGExtended12Bit),
})
"""(plugin, transfer syntax) pairs whose decoding releases the GIL (measured)."""

REDUCED_KINDS: dict[str, str] = {
    uid.JPEGBaseline8Bit: "jpeg",
    uid.JPEGExtended12Bit: "jpeg",
    uid.JPEG2000Lossless: "j2k",
    uid.JPEG2000: "j2k",
}
"""Transfer syntaxes with a reduced decode: JPEG's DCT scaling, JPEG 2000's resolution levels."""


@dataclass(frozen=True)
class DecoderChoice:
    """The plugin chosen for one kind of frame.

    Attributes
    ----------
    plugin : str
        pydicom decoding plugin name (``decoding_plugin=`` of ``as_array``).
    fallbacks : tuple of str
        Other available plugins, fastest first, tried when `plugin` fails on a frame.
    releases_gil : bool
        True if the plugin decodes without holding the GIL (decode on a thread);
        False: decode in a worker process, or the UI thread stalls meanwhile.
    """

    plugin: str
    fallbacks: tuple[str, ...]
    releases_gil: bool


def preferences(transfer_syntax: str, bits_stored: int) -> tuple[str, ...]:
    """Plugins for `transfer_syntax` fastest first, available or not ("" if unknown)."""
    if transfer_syntax == uid.JPEGExtended12Bit and bits_stored > 8:
        return _JPEG_12BIT
    return PREFERENCES.get(transfer_syntax, ())


def choose_plugin(transfer_syntax: str, bits_stored: int, available: tuple[str, ...] | list[str]) -> DecoderChoice:
    """The fastest available plugin for frames of this syntax and precision.

    Parameters
    ----------
    transfer_syntax : str
        Transfer Syntax UID of the (encapsulated) Pixel Data.
    bits_stored : int
        Bits Stored (12-bit JPEG Extended has other plugins than 8-bit).
    available : sequence of str
        The plugins pydicom reports available for this syntax
        (``get_decoder(uid).available_plugins``).

    Returns
    -------
    DecoderChoice
        An unknown syntax, or one whose preferred plugins are all missing,
        gets pydicom's first available plugin (none: ``plugin == ""``, which
        lets pydicom try them all and say what is missing).
    """
    available = [name for name in available if name not in NEVER]
    ranked = [name for name in preferences(transfer_syntax, bits_stored) if name in available]
    ranked += [name for name in available if name not in ranked]
    if not ranked:
        return DecoderChoice("", (), False)
    plugin = ranked[0]
    return DecoderChoice(plugin, tuple(ranked[1:]), (plugin, transfer_syntax) in GIL_FREE)
