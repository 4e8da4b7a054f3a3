"""Cine playback timed by the wall clock, and the meter of the rate achieved. No Qt.

:class:`Playback` asks, at each wake-up, how many frame periods have passed
since the last frame was due and moves that many frames: when showing a
frame takes longer than a period, frames are dropped instead of playback
falling behind (the idea of ``pyqtgraph.ImageView.timeout``). It is woken
through a *scheduler* the host provides (the GUI's is a precise single-shot
``QTimer``): waking once when the next frame is due, rather than polling,
keeps wake-ups to one per frame on a busy machine.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Protocol

from viewer.model.events import Signal

LOOP = "loop"
BOUNCE = "bounce"
MODES = (LOOP, BOUNCE)


class Scheduler(Protocol):
    """Calls back once, `seconds` from now, on the thread that plays (the GUI's thread)."""

    def schedule(self, seconds: float, callback: Callable[[], None]) -> None: ...

    def cancel(self) -> None: ...


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


class Playback:
    """Plays a :class:`~viewer.model.view.ViewerModel`'s document at its own rate or an override.

    Parameters
    ----------
    model : ViewerModel
        Whose frame it moves (with :meth:`ViewerModel.set_frame`).
    default_fps : float
        The rate for files that give none.
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    scheduler : Scheduler, optional
        Wakes :meth:`tick` when a frame is due; without one, the host calls
        :meth:`tick` itself.

    Signals
    -------
    playing_changed(bool)
    rate_changed(float)
        The effective frames per second.
    """

    def __init__(self, model, default_fps: float = 30.0, clock: Callable[[], float] = time.perf_counter,
                 scheduler: Scheduler | None = None) -> None:
        self.model = model
        self.default_fps = float(default_fps)
        self.fps_override: float | None = None
        self.mode = LOOP
        self.direction = 1
        self.shown_frames = 0
        self.dropped_frames = 0
        self.playing_changed = Signal()
        self.rate_changed = Signal()
        self._clock = clock
        self._scheduler = scheduler
        self._due = 0.0  # clock time the current frame was due
        self._playing = False
        model.document_changed.connect(self._on_document_changed)

    # ----------------------------------------------------------------- rate
    @property
    def file_fps(self) -> float | None:
        """The document's own frame rate (Frame Time, Frame Time Vector, Cine Rate), or None."""
        document = self.model.document
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
        """:data:`LOOP` or :data:`BOUNCE`."""
        if mode not in MODES:
            raise ValueError(f"unknown playback mode {mode!r}")
        self.mode = mode

    # -------------------------------------------------------------- control
    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def clock(self) -> Callable[[], float]:
        """The clock playback keeps time by (seconds, monotonic)."""
        return self._clock

    @property
    def due(self) -> float:
        """Clock time the frame shown was due (playback keeps to ``due + k / fps``)."""
        return self._due

    def play(self) -> None:
        if self._playing or self.model.num_frames < 2:
            return
        self.shown_frames = 0
        self.dropped_frames = 0
        self._playing = True
        self._restart_timing()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self._playing:
            return
        self._playing = False
        if self._scheduler is not None:
            self._scheduler.cancel()
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def _restart_timing(self) -> None:
        self._due = self._clock()
        self._arm()

    def _arm(self) -> None:
        """Wake up when the next frame is due (at once if it is overdue)."""
        if self._playing and self._scheduler is not None:
            self._scheduler.schedule(max(0.0, self._due + 1.0 / self.fps - self._clock()), self.tick)

    def _on_document_changed(self, _document) -> None:
        self.pause()
        self.direction = 1
        self.rate_changed.emit(self.fps)

    # ----------------------------------------------------------------- tick
    def tick(self) -> None:
        """Show the frame the clock says is due, skipping any missed ones."""
        if not self._playing:
            return
        count = self.model.num_frames
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
        index, self.direction = advance(self.model.frame_index, steps, count, self.direction, self.mode)
        self.model.set_frame(index)
        self._arm()
