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
    player, item, state = window.player, window.image_view.image_item, window.state
    player.set_fps_override(target_fps)
    last = state.num_frames - 1
    reached_end = [False]

    def watch(index: int) -> None:
        reached_end[0] = reached_end[0] or index == last or index < watch.previous
        watch.previous = index

    watch.previous = state.frame_index
    state.frame_changed.connect(watch)
    painted = item.painted_frames
    started = time.perf_counter()
    player.play()
    if seconds is None:
        _run_events_until(app, lambda: reached_end[0], 3600.0)
    else:
        _run_events_until(app, lambda: False, seconds)
    elapsed = time.perf_counter() - started
    player.pause()
    state.frame_changed.disconnect(watch)
    painted = item.painted_frames - painted
    return {
        "fps": painted / elapsed if elapsed > 0 else 0.0,
        "target_fps": target_fps,
        "painted": painted,
        "dropped": player.dropped_frames,
        "seconds": elapsed,
    }


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
