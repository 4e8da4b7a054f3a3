"""Cine playback timed by the wall clock.

A single-shot timer is armed for the moment the next frame is due; on each
tick the player asks how many frame periods have passed since the last frame
was due and jumps that many frames: when showing a frame takes longer than a
period, frames are dropped instead of playback falling behind (the idea of
``pyqtgraph.ImageView.timeout``). Arming for the due time rather than
polling keeps wake-ups to one per frame on a busy machine.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from viewer.ui.viewer_state import BOUNCE, LOOP, ViewerState



class FpsMeter:
    """Frames per second over a sliding window of recent frame times."""

    def __init__(self, window_seconds: float = 1.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._times: deque[float] = deque()

    def reset(self) -> None:
        self._times.clear()

    def count(self) -> None:
        """Record that one frame was shown now."""
        now = self._clock()
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_seconds:
            self._times.popleft()

    def fps(self) -> float:
        """Frames per second over the window (0 until two frames were counted)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def advance(index: int, steps: int, count: int, direction: int, mode: str) -> tuple[int, int]:
    """Frame and direction after moving `steps` frames in `direction` from `index`.

    In :data:`LOOP` mode playback wraps from the last frame to the first; in
    :data:`BOUNCE` mode it reverses at either end.
    """
    if count <= 1:
        return 0, direction
    if mode == LOOP:
        return (index + steps * direction) % count, direction
    period = 2 * (count - 1)
    # Position on an unfolded forward-then-back track.
    position = index if direction > 0 else period - index
    position = (position + steps) % period
    if position < count:
        return position, 1
    return period - position, -1


class CinePlayer(QObject):
    """Plays the state's document at its own frame rate or an override.

    Signals
    -------
    playing_changed(bool)
    rate_changed(float)
        The effective frames per second.
    """

    playing_changed = Signal(bool)
    rate_changed = Signal(float)

    def __init__(
        self,
        state: ViewerState,
        default_fps: float = 30.0,
        clock: Callable[[], float] = time.perf_counter,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.default_fps = float(default_fps)
        self.fps_override: float | None = None
        self.mode = LOOP
        self.direction = 1
        self.shown_frames = 0
        self.dropped_frames = 0
        self._clock = clock
        self._due = 0.0  # wall time the current frame was due
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setSingleShot(True)
        self._playing = False
        self._timer.timeout.connect(self.tick)
        state.document_changed.connect(self._on_document_changed)

    # ----------------------------------------------------------------- rate
    @property
    def file_fps(self) -> float | None:
        """The document's own frame rate (Frame Time, Frame Time Vector, Cine Rate), or None."""
        document = self.state.document
        frame_time = document.frame_time_ms if document is not None else None
        return 1000.0 / frame_time if frame_time else None

    @property
    def fps(self) -> float:
        """The rate playback runs at: override, else the file's, else the default."""
        return self.fps_override or self.file_fps or self.default_fps

    def set_fps_override(self, fps: float | None) -> None:
        """Play at `fps` instead of the file's rate (None or 0: the file's rate)."""
        self.fps_override = float(fps) if fps else None
        self._restart_timing()
        self.rate_changed.emit(self.fps)

    def set_default_fps(self, fps: float) -> None:
        self.default_fps = float(fps)
        self.rate_changed.emit(self.fps)

    def set_mode(self, mode: str) -> None:
        """:data:`~viewer.ui.viewer_state.LOOP` or :data:`~viewer.ui.viewer_state.BOUNCE`."""
        if mode not in (LOOP, BOUNCE):
            raise ValueError(f"unknown playback mode {mode!r}")
        self.mode = mode

    # -------------------------------------------------------------- control
    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        if self.playing or self.state.num_frames < 2:
            return
        self.shown_frames = 0
        self.dropped_frames = 0
        self._playing = True
        self._restart_timing()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self.playing:
            return
        self._playing = False
        self._timer.stop()
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def _restart_timing(self) -> None:
        self._due = self._clock()
        self._arm()

    def _arm(self) -> None:
        """Wake up when the next frame is due (at once if it is overdue)."""
        if self._playing:
            delay = self._due + 1.0 / self.fps - self._clock()
            self._timer.start(max(0, math.ceil(delay * 1000)))

    def _on_document_changed(self, document) -> None:
        self.pause()
        self.direction = 1
        self.rate_changed.emit(self.fps)

    # ----------------------------------------------------------------- tick
    def tick(self) -> None:
        """Show the frame the wall clock says is due, skipping any missed ones."""
        count = self.state.num_frames
        if count < 2:
            self.pause()
            return
        period = 1.0 / self.fps
        steps = int((self._clock() - self._due) / period)
        if steps <= 0:
            self._arm()
            return
        self._due += steps * period
        self.dropped_frames += steps - 1
        self.shown_frames += 1
        index, self.direction = advance(self.state.frame_index, steps, count, self.direction, self.mode)
        self.state.set_frame(index)
        self._arm()
