"""Decode one compressed frame with the fastest plugin, as pydicom would.

:class:`FrameDecoder` is what an encapsulated frame source plugs in as its
``decode(frame_bytes)``: it is made once per document from the transfer
syntax and the Image Pixel values, picks the plugin
(:func:`~viewer.model.codecs.choice.choose_plugin`), and decodes through
pydicom's own decoder API, ``get_decoder(uid).as_array(src, index=0,
decoding_plugin=NAME, **options)``, so a frame equals pydicom's output with
that plugin (processing, colour conversion and sign correction included).

:meth:`FrameDecoder.decode_reduced` is the display-only shortcut for
zoomed-out views (see :mod:`viewer.model.codecs.reduced`).

A :class:`FrameDecoder` is small and picklable (path, syntax, options,
plugin), so the decode pool sends it to worker processes with each job.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.pixels import get_decoder

from viewer.model.codecs import choice
from viewer.model.codecs.items import as_encapsulated
from viewer.model.errors import DicomError, UnsupportedError, is_decoder_panic

__all__ = ["FrameDecoder", "as_encapsulated"]

_OPTION_KEYS = (
    "rows", "columns", "samples_per_pixel", "bits_allocated", "bits_stored", "pixel_representation",
    "photometric_interpretation", "planar_configuration", "pixel_keyword", "pixel_vr",
)


class FrameDecoder:
    """Decodes single frames of one document's encapsulated Pixel Data.

    Parameters
    ----------
    path : str or None
        The file, named in errors.
    transfer_syntax : str
        Transfer Syntax UID.
    options : dict
        Image Pixel values as pydicom's decoding options take them (``rows``,
        ``columns``, ``samples_per_pixel``, ``bits_allocated``,
        ``bits_stored``, ``pixel_representation``,
        ``photometric_interpretation``, ``planar_configuration``); other keys
        are ignored, and ``number_of_frames`` is always 1.
    plugin : str, optional
        Force a pydicom plugin (benchmarks, tests); default: the measured fastest.

    Raises
    ------
    UnsupportedError
        If pydicom has no decoder for the syntax, or none of its plugins is installed.
    """

    def __init__(self, path: str | None, transfer_syntax: str, options: dict[str, Any],
                 plugin: str | None = None) -> None:
        self.path = path
        self.transfer_syntax = transfer_syntax
        self.options = {key: options[key] for key in _OPTION_KEYS if key in options}
        self.options.update(transfer_syntax_uid=transfer_syntax, number_of_frames=1)
        self._validated = False
        decoder = self._pydicom_decoder()
        available = tuple(decoder.available_plugins)
        if not available:
            missing = "; ".join(decoder.missing_dependencies) or "no plugin installed"
            raise UnsupportedError(path, f"no decoder available for {decoder.UID.name}: {missing}")
        if plugin is not None:
            if plugin not in available:
                raise UnsupportedError(path, f"the {plugin} plugin cannot decode {decoder.UID.name}")
            self.choice = choice.DecoderChoice(
                plugin, tuple(name for name in available if name != plugin),
                (plugin, transfer_syntax) in choice.GIL_FREE)
        else:
            self.choice = choice.choose_plugin(transfer_syntax, int(self.options.get("bits_stored", 8)), available)

    @property
    def plugin(self) -> str:
        """The pydicom plugin that decodes full-resolution frames."""
        return self.choice.plugin

    @property
    def releases_gil(self) -> bool:
        """True if frames can be decoded on a thread without stalling the others."""
        return self.choice.releases_gil

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of a full-resolution frame, as :meth:`decode` returns it."""
        rows, columns = int(self.options["rows"]), int(self.options["columns"])
        samples = int(self.options.get("samples_per_pixel", 1))
        return (rows, columns) if samples == 1 else (rows, columns, samples)

    def prepare(self) -> None:
        """Import what decoding needs -- pydicom's plugins, Pillow's codec for reduced decodes -- now.

        A decoder process calls it when it starts, so that its first frame
        does not pay for the imports (a few hundred milliseconds).
        """
        from viewer.model.codecs import reduced

        _ = self._pydicom_decoder().available_plugins  # pydicom imports a plugin's module to ask
        if reduced.is_available(self.transfer_syntax):
            from PIL import Image

            Image.init()  # the format plugins Image.open looks through

    def _pydicom_decoder(self):
        try:
            return get_decoder(self.transfer_syntax)
        except NotImplementedError as exc:
            raise UnsupportedError(self.path, f"the transfer syntax {self.transfer_syntax} is not supported") from exc

    def decode(self, data: bytes | bytearray | memoryview | np.ndarray, index: int | None = None) -> np.ndarray:
        """Decode one frame at full resolution: equal to pydicom's output with :attr:`plugin`.

        Parameters
        ----------
        data : bytes-like
            The frame, encapsulated (offset table item then its fragments'
            items) or as a bare codestream (see :func:`as_encapsulated`).
        index : int, optional
            The frame's number as error messages should show it (the
            application counts frames from 1).

        Returns
        -------
        numpy.ndarray
            A new, writeable array shaped :attr:`frame_shape`.

        Raises
        ------
        UnsupportedError
            If no plugin can decode the frame (the chosen plugin's reason is given).
        """
        source = as_encapsulated(data)
        decoder = self._pydicom_decoder()
        first_error: BaseException | None = None
        for plugin in (self.choice.plugin, *self.choice.fallbacks):
            try:
                # pydicom validates the options (the same for every frame) on
                # each call, 0.2 ms: once per decoder and process is enough.
                array, _ = decoder.as_array(source, index=0, decoding_plugin=plugin, validate=not self._validated,
                                            **self.options)
                self._validated = True
                return array
            except BaseException as exc:  # noqa: BLE001 -- see _decode_failure
                _reraise_if_not_a_decode_failure(exc)
                first_error = first_error or exc
        raise self.error(index, first_error)

    def error(self, index: int | None, exc: BaseException | None) -> DicomError:
        """The :class:`DicomError` to raise for a frame that failed to decode."""
        which = "the frame" if index is None else f"frame {index}"
        if isinstance(exc, MemoryError):
            return UnsupportedError(self.path, f"{which} is too large to decode in memory")
        # pydicom lists every plugin's failure on its own line; the last is the plugin's own words
        reason = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        return UnsupportedError(self.path, f"cannot decode {which} ({self.plugin or 'pydicom'}): {reason}")

    def reduced_factor(self, factor: int, data: bytes | None = None) -> int:
        """The factor :meth:`decode_reduced` gives for `factor` (1: no reduced decode).

        Parameters
        ----------
        factor : int
            Wanted shrink factor (2: half width and height).
        data : bytes, optional
            The frame; JPEG 2000 needs its codestream to know how many
            resolution levels it has (without it, levels are assumed present).
        """
        from viewer.model.codecs import reduced

        return reduced.actual_factor(self, factor, data)

    def decode_reduced(self, data: bytes | bytearray | memoryview | np.ndarray, factor: int,
                       index: int | None = None) -> tuple[np.ndarray, int]:
        """Decode at about 1/`factor` of the size, for display only.

        JPEG frames are decoded with DCT scaling (1/2, 1/4, 1/8) and JPEG
        2000 frames at a lower resolution level, through Pillow; the result is
        *not* a downsample of :meth:`decode`'s array sample for sample (each
        output pixel is about the mean of its ``factor x factor`` block), so it
        is for showing a zoomed-out frame, never for the pixel readout,
        editing or export, which use :meth:`decode`. Colour is processed as
        :meth:`decode` processes it (YBR to RGB by pydicom).

        Parameters
        ----------
        data : bytes-like
            The frame (as :meth:`decode` takes it).
        factor : int
            Wanted shrink factor, at least 1.
        index : int, optional
            The frame's number, for error messages.

        Returns
        -------
        (numpy.ndarray, int)
            The frame, ``ceil(rows / actual) x ceil(columns / actual)``, and the actual
            factor: the largest the format offers that is at most `factor` (a
            power of two; 1 means a full :meth:`decode`, also the answer when
            the reduced decode fails on this frame).
        """
        from viewer.model.codecs import reduced

        return reduced.decode_reduced(self, as_encapsulated(data), factor, index)

    def __repr__(self) -> str:
        return f"FrameDecoder({self.transfer_syntax}, plugin={self.plugin!r}, shape={self.frame_shape})"


def _reraise_if_not_a_decode_failure(exc: BaseException) -> None:
    """Let KeyboardInterrupt and friends through; decoders' failures (a Rust decoder's panic too) are handled."""
    if isinstance(exc, Exception) or is_decoder_panic(exc):
        return
    raise exc
