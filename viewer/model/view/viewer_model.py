"""What the viewer shows: the document, the frame, the window/level. No Qt.

:class:`ViewerModel` is the one place this state lives (napari's
``ViewerModel`` is the precedent). Widgets subscribe to its signals and
change it only through its methods, so there is one direction per wire:
widget -> command -> signal -> every widget (the one that asked included,
which blocks its own signals while it updates itself).

Threads: commands come from one thread (the GUI's) and signals are emitted
on it. The document may announce edits and mode changes from a worker (a
save runs on one); the model hears them through `call_soon`, which the host
provides to run a function on its thread (the GUI posts it to Qt's event
loop). Without one, calls are direct.

Frames: :meth:`ViewerModel.frame` fetches the frame shown once and keeps it
until the frame index, the document or the frame's pixels change, so that
the image, the initial window and the automatic window share one fetch.
:meth:`ViewerModel.display_frame` is what the image asks: it never waits for
a compressed frame that is not decoded yet (nor for a lazy index to find
it); it asks the document to decode it urgently off the UI thread and emits
``frame_changed`` again when it arrives, if it is still the frame shown.
While a cine plays it may be a reduced decode (:attr:`display_factor`), for
display only: the readout, editing and export use :meth:`frame`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from viewer.model.display import render
from viewer.model.display.metadata import VoiRef, WindowPreset
from viewer.model.display.pipeline import AUTOMATIC_WINDOW_FRAMES, GreyPipeline
from viewer.model.errors import DicomError
from viewer.model.events import Signal
from viewer.model.frames.requests import URGENT

Fetch = Callable[[Any, int], np.ndarray]


def _fetch_frame(document, index: int) -> np.ndarray:
    return document.frame(index)


LARGE_FRAME_BYTES = 64 << 20
"""Frames above this are sampled for the automatic window as strided regions, never fetched whole
(a 30,000 x 30,000 frame: 65,536 pixels read instead of 1.8 GB; see :func:`render.sample_region`)."""


def _large(document) -> bool:
    geometry = document.geometry
    return geometry is not None and geometry.frame_nbytes > LARGE_FRAME_BYTES


def _call_now(function: Callable[..., Any], *args: Any) -> None:
    function(*args)


class ViewerModel:
    """The shown document, frame and window/level.

    Parameters
    ----------
    fetch : callable, optional
        ``fetch(document, index) -> frame``; the GUI passes a fetch that
        copies frames out of a mapping no lease protects.
    call_soon : callable, optional
        ``call_soon(function, *args)`` runs `function` on the model's thread
        (for document events from workers). Direct by default.

    Signals
    -------
    document_changed(document)
        The new :class:`~viewer.model.Document`, or None after closing.
    frame_changed(int)
        The frame index to show (also re-emitted when its pixels changed).
    window_changed(float, float)
        New window centre and width, in modality units (also when a preset
        naming the file's VOI, :attr:`voi_source`, is chosen).
    invert_changed(bool)
        The user's invert flag (MONOCHROME1 is inverted on top of it).
    presets_changed(list)
        The window presets available (file, automatic, full range).
    frame_count_changed(int)
        The document's frame count became final (compressed data without
        offset tables is counted on a background thread: Number of Frames until then).
    mode_changed(bool)
        The document switched between read-only (False) and read/write.
    history_changed()
        Undo/redo state changed.
    """

    def __init__(self, fetch: Fetch | None = None, call_soon: Callable[..., None] | None = None) -> None:
        self.document = None
        self.frame_index = 0
        self.direction = 1  # of the last frame change: read-ahead follows it
        self.center = 0.0
        self.width = 1.0
        self.invert = False
        self.presets: list[WindowPreset] = []
        self.initial_window: WindowPreset | None = None
        self.window_chosen_by_user = False
        self.voi_source: VoiRef | None = None  # the file's VOI shown (resolved per frame), or None: center/width
        self.pipeline: GreyPipeline | None = None  # grey documents only
        self._fetch = fetch or _fetch_frame
        self._call_soon = call_soon or _call_now
        self._shown: tuple[Any, int, np.ndarray] | None = None  # (document, index, frame) fetched last
        self.display_factor = 1  # reduced decodes the view draws a playing cine at (the read-ahead follows it)
        self._awaited: Any = None  # the decode display_frame waits for, notified once
        self._failed: tuple[Any, int, int, BaseException] | None = None  # a frame whose decode failed
        self.document_changed = Signal()
        self.frame_changed = Signal()
        self.window_changed = Signal()
        self.invert_changed = Signal()
        self.presets_changed = Signal()
        self.frame_count_changed = Signal()
        self.mode_changed = Signal()
        self.history_changed = Signal()

    # ------------------------------------------------------------- document
    @property
    def num_frames(self) -> int:
        return self.document.num_frames if self.document is not None else 0

    @property
    def display_kind(self) -> str:
        document = self.document
        if document is None or document.geometry is None:
            return render.GREY
        return render.display_kind(document.photometric_interpretation, document.geometry.samples_per_pixel)

    @property
    def is_grey(self) -> bool:
        return self.document is not None and self.display_kind == render.GREY

    def set_document(self, document) -> None:
        """Show `document` from its first frame (None: show nothing). Does not close the old one."""
        old = self.document
        if old is not None:
            old.frames_changed.disconnect(self._document_frames_changed)
            old.mode_changed.disconnect(self._document_mode_changed)
            old.history_changed.disconnect(self._document_history_changed)
            old.frame_count_changed.disconnect(self._document_frame_count_changed)
        self.document = document
        self.frame_index = 0
        self.direction = 1
        self.invert = False
        self.window_chosen_by_user = False
        self.voi_source = None
        self.pipeline = None
        self._shown = self._failed = self._awaited = None
        if document is not None and self.is_grey:
            self.pipeline = GreyPipeline.for_document(document)
        if document is not None:
            document.frames_changed.connect(self._document_frames_changed)
            document.mode_changed.connect(self._document_mode_changed)
            document.history_changed.connect(self._document_history_changed)
            document.frame_count_changed.connect(self._document_frame_count_changed)
            self._choose_initial_window()
        else:
            self.presets = []
            self.initial_window = None
        self.document_changed.emit(document)
        self.presets_changed.emit(list(self.presets))
        self.invert_changed.emit(self.invert)
        self.window_changed.emit(self.center, self.width)
        if document is not None and document.num_frames:
            self.frame_changed.emit(0)

    def _choose_initial_window(self) -> None:
        document = self.document
        assert document is not None
        pipeline = self.pipeline
        if pipeline is None:
            self.presets = [render.full_range_window(8, False)]
        else:
            file_presets = pipeline.presets(0)  # VOI LUTs by explanation, then windows
            automatic = None
            if not file_presets and document.num_frames:
                # A quick guess from a grid of the first frame (the one shown, fetched
                # once); the background auto-window over sampled frames refines it.
                try:
                    sample = render.sample_region(document, 0) if _large(document) else self.frame(0)
                    automatic = pipeline.automatic_window([(0, sample)])
                except DicomError:
                    automatic = None  # the image view reports the frame it cannot show
            self.presets = render.presets_for(file_presets, automatic, pipeline.full_range(0))
        self.initial_window = self.presets[0]
        self.center, self.width = self.initial_window.center, self.initial_window.width
        self.voi_source = self.initial_window.source

    @property
    def choice(self) -> WindowPreset:
        """The VOI shown: the file's (:attr:`voi_source`, resolved per frame) or the window center/width."""
        name = next((p.name for p in self.presets if self.voi_source is not None and p.source == self.voi_source), "")
        return WindowPreset(self.center, self.width, name, self.voi_source)

    # The document's events may come from a worker thread: hop to ours first.
    def _document_frames_changed(self, frames=None) -> None:
        self._call_soon(self.frames_edited, self.document, frames)

    def _document_mode_changed(self, writable: bool) -> None:
        self._call_soon(self._relay_if_current, self.document, self.mode_changed, bool(writable))

    def _document_history_changed(self, *_: object) -> None:
        self._call_soon(self._relay_if_current, self.document, self.history_changed)

    def _document_frame_count_changed(self, count: int) -> None:
        self._call_soon(self.frame_count_settled, self.document, int(count))

    def frame_count_settled(self, document, count: int) -> None:
        """`document`'s final frame count is `count`: keep the frame shown inside it and tell the widgets."""
        if document is not self.document or document is None:
            return
        self.frame_count_changed.emit(count)
        if count and self.frame_index >= count:
            self.set_frame(count - 1)

    def _relay_if_current(self, document, signal: Signal, *args: Any) -> None:
        if document is self.document and document is not None:
            signal.emit(*args)

    def frames_edited(self, document, frames) -> None:
        """The pixels of `frames` (a set of indices, None: all) of `document` changed: show them again."""
        if document is not self.document or document is None:
            return
        if frames is None or self.frame_index in frames:
            self._shown = self._failed = None
            self.frame_changed.emit(self.frame_index)

    # ---------------------------------------------------------------- frames
    def frame(self, index: int | None = None) -> np.ndarray:
        """Frame `index` (default: the one shown), fetched once while it is the one shown.

        Raises
        ------
        DicomError
            As the document's ``frame`` does (a file changed on disk, a frame that cannot be decoded).
        """
        document = self.document
        if document is None:
            raise ValueError("no document is shown")
        index = self.frame_index if index is None else int(index)
        shown = self._shown
        if shown is not None and shown[0] is document and shown[1] == index:
            return shown[2]
        frame = self._fetch(document, index)
        if index == self.frame_index:
            self._shown = (document, index, frame)
        return frame

    def display_frame(self, index: int | None = None, factor: int = 1, *,
                      ask: bool = True) -> tuple[np.ndarray, int] | None:
        """The pixels to draw frame `index` with now, or None while it is decoded off this thread.

        Never waits for a compressed frame: one not decoded yet is asked for
        urgently, and ``frame_changed`` is emitted again when it arrives if it
        is still the frame shown (meanwhile the view keeps what it shows).
        Other pixel data is :meth:`frame`.

        Parameters
        ----------
        index : int, optional
            The frame (default: the one shown).
        factor : int, optional
            More than 1: a reduced decode will do (display only: never for
            the readout, editing or export); the format may give less.
        ask : bool, optional
            False: do not start a decode, only wait for one already asked
            for (a playing cine shows what the read-ahead planned; decoding
            a frame already due would make it late and the next ones too).

        Returns
        -------
        (numpy.ndarray, int) or None
            The pixels and the factor they were decoded at (1: the frame as
            :meth:`frame` returns it).

        Raises
        ------
        DicomError
            If the frame cannot be read or decoded (also when that was found off this thread).
        """
        document = self.document
        if document is None:
            raise ValueError("no document is shown")
        index = self.frame_index if index is None else int(index)
        decoding = document.decoding
        shown = self._shown
        if decoding is None or not 0 <= index < document.num_frames or (
                factor <= 1 and shown is not None and shown[0] is document and shown[1] == index):
            return self.frame(index), 1
        failed = self._failed
        if failed is not None and failed[:3] == (document, index, factor):
            raise failed[3]
        document.guard.check()  # as document.frame() does: a changed file is never served from a cache
        future = decoding.request(index, factor, URGENT) if ask else decoding.joinable(index, factor)
        if future is None:
            return None
        if future.done() and not future.cancelled():
            decoded = future.result()
            if decoded.factor == 1 and index == self.frame_index:
                self._shown = (document, index, decoded.array)
            return decoded.array, decoded.factor
        if self._awaited is not future:
            self._awaited = future
            future.add_done_callback(partial(self._decoded_elsewhere, document, index, factor))
        return None

    def _decoded_elsewhere(self, document, index: int, factor: int, future) -> None:  # a decoding thread
        if not future.cancelled():  # cancelled: no longer wanted (playback moved on)
            self._call_soon(self.frame_decoded, document, index, factor, future.exception())

    def frame_decoded(self, document, index: int, factor: int, error: BaseException | None = None) -> None:
        """Frame `index` of `document` asked for by :meth:`display_frame` was decoded (or failed): show it if wanted."""
        if document is not self.document or document is None:
            return
        if error is not None:
            self._failed = (document, index, factor, error)
        if index == self.frame_index:
            self.frame_changed.emit(index)

    def set_display_factor(self, factor: int) -> None:
        """The view draws frames reduced by `factor` (1: full resolution); the read-ahead decodes at it."""
        self.display_factor = max(1, int(factor))

    def set_frame(self, index: int) -> None:
        """Show frame `index` (clamped to the document's frames)."""
        if self.document is None or not self.num_frames:
            return
        index = max(0, min(int(index), self.num_frames - 1))
        if index == self.frame_index:
            return
        self.direction = 1 if index > self.frame_index else -1
        self.frame_index = index
        self.frame_changed.emit(index)

    def step(self, delta: int) -> None:
        """Move `delta` frames forward (negative: back), stopping at the ends."""
        self.set_frame(self.frame_index + int(delta))

    # --------------------------------------------------------- window/level
    def set_window(self, center: float, width: float, *, by_user: bool = True) -> None:
        """Show the window `center`/`width` (rescaled units)."""
        width = max(float(width), 1e-6)
        if (center, width) == (self.center, self.width):
            return
        self.center, self.width = float(center), width
        self.voi_source = None  # a window of the user's own from now on
        self.window_chosen_by_user = self.window_chosen_by_user or by_user
        self.window_changed.emit(self.center, self.width)

    def apply_preset(self, preset: WindowPreset, *, by_user: bool = True) -> None:
        """Show `preset` (a file VOI is then followed frame by frame)."""
        self._show_preset(preset, by_user)

    def _show_preset(self, preset: WindowPreset, by_user: bool) -> None:
        changed = (preset.center, preset.width, preset.source) != (self.center, self.width, self.voi_source)
        self.center, self.width = float(preset.center), max(float(preset.width), 1e-6)
        self.voi_source = preset.source
        self.window_chosen_by_user = self.window_chosen_by_user or by_user
        if changed:
            self.window_changed.emit(self.center, self.width)

    def set_invert(self, invert: bool) -> None:
        if bool(invert) != self.invert:
            self.invert = bool(invert)
            self.invert_changed.emit(self.invert)

    def reset_window(self) -> None:
        """Back to the window shown on opening, not inverted."""
        self.set_invert(False)
        if self.initial_window is not None:
            self._show_preset(self.initial_window, by_user=False)
        self.window_chosen_by_user = False

    def set_automatic_window(self, preset: WindowPreset) -> None:
        """Replace the automatic preset (computed in the background); apply it
        if it is what is shown and the user has not chosen another window."""
        presets = [p for p in self.presets if p.name != render.AUTO_WINDOW_NAME]
        file_presets = [p for p in presets if p.source is not None]
        presets.insert(len(file_presets), preset)
        was_initial = self.initial_window is not None and self.initial_window.name == render.AUTO_WINDOW_NAME
        self.presets = presets
        self.presets_changed.emit(list(presets))
        if not file_presets and (was_initial or self.initial_window is None or not self.window_chosen_by_user):
            self.initial_window = preset
            if not self.window_chosen_by_user:
                self._show_preset(preset, by_user=False)

    def rescale(self) -> tuple[float, float]:
        """(slope, intercept) of the frame shown."""
        if self.document is None:
            return 1.0, 0.0
        return self.document.rescale(self.frame_index)

    def modality_value(self, stored: float) -> float | None:
        """The modality value (rescaled, or through the Modality LUT) of a stored value of the frame shown."""
        if self.pipeline is None:
            return None
        value = stored if not float(stored).is_integer() else int(stored)
        return float(self.pipeline.modality(self.frame_index, np.array([value]))[0])

    def automatic_window_job(self) -> Callable[[Callable[[int, int], None]], WindowPreset | None]:
        """A function for a worker: the automatic window from frames sampled over the file.

        Call it on the model's thread; run what it returns anywhere. It uses
        a pipeline of its own (the view's is used on the GUI thread
        meanwhile), and the frame shown, already fetched, is not fetched
        again.
        """
        document = self.document
        if document is None or not document.num_frames or not self.is_grey:
            return lambda progress: None
        indices = render.sample_indices(document.num_frames, AUTOMATIC_WINDOW_FRAMES)
        known = {}
        shown = self._shown
        if shown is not None and shown[0] is document:
            known[shown[1]] = shown[2]
        fetch = render.sample_region if _large(document) else self._fetch

        def job(progress: Callable[[int, int], None]) -> WindowPreset | None:
            pipeline = GreyPipeline.for_document(document)

            def frames():
                for done, index in enumerate(indices):
                    progress(done, len(indices))
                    yield index, known[index] if index in known else fetch(document, index)
                progress(len(indices), len(indices))

            return pipeline.automatic_window(frames())

        return job
