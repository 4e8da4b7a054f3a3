"""The Qt-side controller: which document is open, which frame and window are shown.

Every widget listens to :class:`ViewerState`'s signals and changes the view
only through its setters, so there is one direction per wire: widget ->
setter -> signal -> every widget (the one that asked included, which blocks
its own signals while it updates itself).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from viewer.model import DicomError, Document, WindowPreset
from viewer.model.display import render
from viewer.model.display.pipeline import GreyPipeline
from viewer.ui.qt_bridge import DocumentBridge

LOOP = "loop"
BOUNCE = "bounce"


class ViewerState(QObject):
    """The shown document, frame and window/level.

    Signals
    -------
    document_changed(object)
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
    mode_changed(bool)
        The document switched between read-only (False) and read/write.
    history_changed()
        Undo/redo state changed.
    """

    document_changed = Signal(object)
    frame_changed = Signal(int)
    window_changed = Signal(float, float)
    invert_changed = Signal(bool)
    presets_changed = Signal(list)
    mode_changed = Signal(bool)
    history_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.frame_index = 0
        self.direction = 1  # of the last frame change: read-ahead follows it
        self.center = 0.0
        self.width = 1.0
        self.invert = False
        self.presets: list[WindowPreset] = []
        self.initial_window: WindowPreset | None = None
        self.window_chosen_by_user = False
        self.voi_source = None  # the file's VOI shown (VoiRef, resolved per frame), or None: center/width
        self.pipeline: GreyPipeline | None = None  # grey documents only
        self._bridge: DocumentBridge | None = None

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

    def set_document(self, document: Document | None) -> None:
        """Show `document` from its first frame (None: show nothing). Does not close the old one."""
        if self._bridge is not None:
            self._bridge.detach()
            self._bridge.deleteLater()
            self._bridge = None
        self.document = document
        self.frame_index = 0
        self.direction = 1
        self.invert = False
        self.window_chosen_by_user = False
        self.voi_source = None
        self.pipeline = None
        if document is not None and self.is_grey:
            self.pipeline = GreyPipeline.for_document(document)
        if document is not None:
            self._bridge = DocumentBridge(document, self)
            self._bridge.frames_changed.connect(self._on_frames_changed)
            self._bridge.mode_changed.connect(self.mode_changed)
            self._bridge.history_changed.connect(self.history_changed)
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
                # A quick guess from a grid of the first frame; the background
                # auto-window over sampled frames refines it.
                try:
                    automatic = pipeline.automatic_window([(0, document.frame(0))])
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

    def _on_frames_changed(self, frames) -> None:
        if frames is None or self.frame_index in frames:
            self.frame_changed.emit(self.frame_index)

    # ---------------------------------------------------------------- frames
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
        return float(self.pipeline.modality(self.frame_index, [value])[0])
