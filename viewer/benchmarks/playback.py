"""Measure cine playback in the real main window: frames painted per second, memory.

``measure_playback(path, seconds)`` opens `path` in a :class:`MainWindow`
(offscreen works; settings go to a temporary store), plays it with the
wall-clock player at `target_fps`, and counts the frames that were actually
painted. The future ``cinemap bench`` command calls it; run it alone with::

    QT_QPA_PLATFORM=offscreen python -m viewer.benchmarks.playback FILE [SECONDS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from viewer.exit_codes import EXIT_OK, EXIT_USAGE
from viewer.ui.memory import memory_use

DEFAULT_TARGET_FPS = 1000.0  # faster than any screen: measures what the viewer can sustain


def _run_events_until(app, done, timeout: float) -> None:
    """Run the event loop until `done()`, blocking between events as the application's own loop does.

    A loop polling ``processEvents`` would keep the UI thread (and the GIL)
    busy and starve the threads that read frames ahead: not what the
    application does.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.perf_counter() + timeout
    tick = QTimer()
    tick.start(10)  # a wake-up now and then, to check done() and the deadline
    try:
        while not done() and time.perf_counter() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    finally:
        tick.stop()


def measure_playback(
    path: str,
    seconds: float | None = 5.0,
    *,
    target_fps: float = DEFAULT_TARGET_FPS,
    window_size: tuple[int, int] = (1100, 800),
) -> dict:
    """Play `path` for `seconds` (None: once through, to the last frame) and report.

    Parameters
    ----------
    path : str
        A multi-frame DICOM file.
    seconds : float or None
        How long to play; None plays from the first frame until the last
        one has been passed.
    target_fps : float
        Playback rate asked of the player; frames the viewer cannot show in
        time are dropped, never queued.
    window_size : (int, int)
        Size of the main window.

    Returns
    -------
    dict
        ``fps`` (frames painted per second), ``target_fps``, ``painted``,
        ``dropped``, ``seconds``, ``frames`` (in the file), ``frame_shape``,
        ``anonymous_before``/``anonymous_after`` and
        ``resident_before``/``resident_after`` in bytes (None where
        ``/proc`` is missing), ``cache_bytes``.
    """
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from viewer.app import configure_pyqtgraph
    from viewer.ui.main_window import MainWindow
    from viewer.ui.opening import open_with_settings
    from viewer.ui.settings_store import SettingsStore

    app = QApplication.instance() or QApplication([sys.argv[0]])
    configure_pyqtgraph()
    with tempfile.TemporaryDirectory() as folder:
        store = SettingsStore(QSettings(f"{folder}/bench.ini", QSettings.Format.IniFormat))
        window = MainWindow(store)
        window.resize(*window_size)
        window.show()
        document, _notes = open_with_settings(path, store.settings)
        try:
            window.show_document(document)
            window.window_level.cancel()  # keep the auto-window's frame sampling out of the figures
            _run_events_until(app, lambda: window.image_view.image_item.painted_frames > 0, 5.0)
            # What opening starts (the frames read ahead, the decoder processes) ends before Play,
            # as it does while a person reaches for the button.
            window.read_ahead.wait(30.0)
            before = memory_use()
            result = _play(app, window, seconds, target_fps)
            after = memory_use()
        finally:
            window.player.pause()
            window.close_document()
            window.close()
            window.deleteLater()
            app.processEvents()
    result.update(
        frames=document.num_frames,
        frame_shape=list(document.frame_shape),
        anonymous_before=before.anonymous,
        anonymous_after=after.anonymous,
        resident_before=before.resident,
        resident_after=after.resident,
        cache_bytes=store.settings.frame_cache_mb << 20,
    )
    return result


def _play(app, window, seconds: float | None, target_fps: float) -> dict:
    player, item, state, view = window.player, window.image_view.image_item, window.state, window.image_view
    player.set_fps_override(target_fps)
    last = state.num_frames - 1
    reached_end = [False]
    shown: list[tuple[int, int]] = []  # (frame, factor) of each frame painted

    previous = [state.frame_index]

    def watch(index: int) -> None:
        reached_end[0] = reached_end[0] or index == last or index < previous[0]
        previous[0] = index

    def painted_one() -> None:
        shown.append((view.shown_index, view.shown_factor))

    state.frame_changed.connect(watch)
    view.frame_painted.connect(painted_one)
    decoding = state.document.decoding
    decodes_before = sum(decoding.decodes.values()) if decoding is not None else 0
    probe = _LatencyProbe()
    painted = item.painted_frames
    started = time.perf_counter()
    player.play()
    if seconds is None:
        _run_events_until(app, lambda: reached_end[0], 3600.0)
    else:
        _run_events_until(app, lambda: False, seconds)
    elapsed = time.perf_counter() - started
    player.pause()
    probe.stop()
    state.frame_changed.disconnect(watch)
    view.frame_painted.disconnect(painted_one)
    painted = item.painted_frames - painted
    due = max(painted, int(elapsed * min(target_fps, player.fps)))  # frames the clock passed
    decoded = sum(decoding.decodes.values()) - decodes_before if decoding is not None else None
    factors = [factor for _, factor in shown]
    timer = decoding.timers.get(max(set(factors), key=factors.count)) if decoding is not None and factors else None
    return {
        "fps": painted / elapsed if elapsed > 0 else 0.0,
        "target_fps": target_fps,
        "painted": painted,
        "dropped": player.dropped_frames,
        "skipped_percent": 100.0 * (due - painted) / due if due else 0.0,
        "in_order": _in_play_order([frame for frame, _ in shown], state.num_frames),
        "reduced_frames": sum(factor > 1 for _, factor in shown),
        "decoded": decoded,
        "decoded_per_presented": decoded / painted if decoded is not None and painted else None,
        "event_latency_ms": probe.latencies_ms(),
        "decode_ms": 1000 * timer.seconds if timer is not None else None,
        "seconds": elapsed,
    }


def _in_play_order(frames: list[int], count: int) -> bool:
    """True if each frame painted comes after the one before in a forward, looping play."""
    steps = [(after - before) % count for before, after in zip(frames, frames[1:])]
    return all(0 < step < count // 2 or count < 3 for step in steps)


class _LatencyProbe:
    """Posts an event to the UI thread every 50 ms and times how long it waits to be handled.

    What a click on a menu waits for while a cine plays: the event loop's
    turn, however busy the UI thread is with frames.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self._waits: list[float] = []
        self._timer = QTimer()
        self._timer.timeout.connect(self._post)
        self._timer.start(50)

    def _post(self) -> None:
        from PySide6.QtCore import QTimer

        posted = time.perf_counter()
        QTimer.singleShot(0, lambda: self._waits.append(time.perf_counter() - posted))

    def stop(self) -> None:
        self._timer.stop()

    def latencies_ms(self) -> dict[str, float]:
        waits = sorted(self._waits) or [0.0]
        return {"median": 1000 * waits[len(waits) // 2], "max": 1000 * waits[-1], "samples": len(self._waits)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m viewer.benchmarks.playback FILE [SECONDS|once]", file=sys.stderr)
        return EXIT_USAGE
    seconds = None if len(argv) > 1 and argv[1] == "once" else float(argv[1]) if len(argv) > 1 else 5.0
    print(json.dumps(measure_playback(argv[0], seconds), indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
