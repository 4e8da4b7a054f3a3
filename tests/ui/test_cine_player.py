"""Cine playback: timed by the wall clock, dropping frames rather than lagging."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from viewer.ui.cine_player import CinePlayer, FpsMeter, advance  # noqa: E402
from viewer.ui.viewer_state import BOUNCE, LOOP  # noqa: E402

from conftest import EVENT_TIMEOUT_MS, FRAMES  # noqa: E402


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def player(qtbot, state, document, clock):
    state.set_document(document)
    player = CinePlayer(state, clock=clock)
    yield player
    player.pause()


def test_rate_comes_from_the_file_then_the_override(player):
    assert player.file_fps == pytest.approx(20.0)  # Frame Time 50 ms
    assert player.fps == pytest.approx(20.0)
    player.set_fps_override(60)
    assert player.fps == 60
    player.set_fps_override(None)
    assert player.fps == pytest.approx(20.0)


def test_tick_advances_by_elapsed_wall_time_and_drops_missed_frames(player, state, clock):
    player.play()
    player.tick()
    assert state.frame_index == 0  # no period has passed
    clock.now += 0.051
    player.tick()
    assert state.frame_index == 1 and player.dropped_frames == 0
    clock.now += 0.175  # 3.5 periods late: show frame 4, drop 2 and 3
    player.tick()
    assert state.frame_index == 4 and player.dropped_frames == 2
    clock.now += 0.030  # the half period left over is not lost
    player.tick()
    assert state.frame_index == 5


def test_loop_wraps_to_the_first_frame(player, state, clock):
    state.set_frame(FRAMES - 2)
    player.play()
    clock.now += 3 * 0.05 + 0.001
    player.tick()
    assert state.frame_index == 1


def test_bounce_reverses_at_the_end(player, state, clock):
    player.set_mode(BOUNCE)
    state.set_frame(FRAMES - 2)
    player.play()
    clock.now += 3 * 0.05 + 0.001
    player.tick()
    assert state.frame_index == FRAMES - 3 and player.direction == -1


@pytest.mark.parametrize(
    "index, steps, direction, mode, expected",
    [(0, 1, 1, LOOP, (1, 1)), (9, 1, 1, LOOP, (0, 1)), (0, 1, -1, LOOP, (9, -1)), (9, 1, 1, BOUNCE, (8, -1)),
     (8, 3, 1, BOUNCE, (7, -1)), (1, 3, -1, BOUNCE, (2, 1)), (0, 18, 1, BOUNCE, (0, 1))],
)
def test_advance(index, steps, direction, mode, expected):
    assert advance(index, steps, 10, direction, mode) == expected


class RecordingClock:
    """The real clock, remembering the last time it gave (what the player's last tick saw)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> float:
        self.last = time.perf_counter()
        return self.last


def test_real_timer_shows_the_frame_the_clock_says(qtbot, state, document):
    # Not "N frames in 400 ms": on a loaded machine the timer may fire late.
    # What must hold whatever the load is that each frame shown is the one
    # due at the time the player looked at the clock.
    state.set_document(document)
    clock = RecordingClock()
    player = CinePlayer(state, clock=clock)
    player.set_fps_override(50)
    period = 1 / 50
    seen = []
    state.frame_changed.connect(lambda index: seen.append((index, clock.last)))
    player.play()
    started = player._due
    qtbot.waitUntil(lambda: state.frame_index >= 10, timeout=EVENT_TIMEOUT_MS)
    player.pause()
    for index, looked in seen:
        assert started + index * period <= looked + 1e-9 < started + (index + 1) * period + 1e-6, (index, looked - started)


def test_slow_display_drops_frames_instead_of_lagging(qtbot, state, document):
    state.set_document(document)
    clock = RecordingClock()
    player = CinePlayer(state, clock=clock)
    player.set_fps_override(100)
    ticks = []  # (frames shown + dropped, the clock the tick read)
    state.frame_changed.connect(lambda _index: ticks.append((player.shown_frames + player.dropped_frames, clock.last)))
    state.frame_changed.connect(lambda _index: time.sleep(0.03))  # each frame takes 3 periods to show
    player.play()
    started = player._due
    qtbot.waitUntil(lambda: player.shown_frames >= 6, timeout=EVENT_TIMEOUT_MS)
    player.pause()
    assert player.dropped_frames > 0
    # The position (frames shown + dropped) follows the clock, not the number of frames shown.
    for position, looked in ticks:
        assert started + position * 0.01 <= looked + 1e-9 < started + (position + 1) * 0.01 + 1e-6
    position = ticks[-1][0]
    assert player.shown_frames <= position / 2 + 1


def test_pause_stops_and_play_needs_two_frames(player, state, clock):
    player.play()
    assert player.playing
    player.pause()
    clock.now += 1
    assert not player.playing and state.frame_index == 0


def test_fps_meter():
    clock = FakeClock()
    meter = FpsMeter(clock=clock)
    for _ in range(31):
        meter.count()
        clock.now += 1 / 30
    assert meter.fps() == pytest.approx(30, rel=0.05)
    meter.reset()
    assert meter.fps() == 0
