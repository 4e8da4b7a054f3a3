"""Playback by the clock, without Qt: a fake clock and a scheduler that records its wake-ups."""

from __future__ import annotations

import pytest

from viewer.model import open_document
from viewer.model.view import BOUNCE, LOOP, FpsMeter, Playback, ViewerModel, advance
from viewer.synthetic import write_cine

FRAMES = 40


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RecordingScheduler:
    """Remembers the wake-up asked for; the test plays the timer."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.callback = None

    def schedule(self, seconds, callback) -> None:
        self.delays.append(seconds)
        self.callback = callback

    def cancel(self) -> None:
        self.callback = None


@pytest.fixture(scope="module")
def cine_path(tmp_path_factory):
    return write_cine(tmp_path_factory.mktemp("play") / "cine.dcm", frames=FRAMES, rows=16, columns=16,
                      frame_time_ms=50.0)


@pytest.fixture
def model(cine_path):
    model = ViewerModel()
    with open_document(cine_path) as document:
        model.set_document(document)
        yield model
        model.set_document(None)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def scheduler():
    return RecordingScheduler()


@pytest.fixture
def player(model, clock, scheduler):
    return Playback(model, clock=clock, scheduler=scheduler)


def test_rate_comes_from_the_file_then_the_override(player):
    rates = []
    player.rate_changed.connect(rates.append)
    assert player.file_fps == pytest.approx(20.0)  # Frame Time 50 ms
    assert player.fps == pytest.approx(20.0)
    player.set_fps_override(60)
    assert player.fps == 60
    player.set_fps_override(None)
    assert player.fps == pytest.approx(20.0) and rates == [60, pytest.approx(20.0)]


def test_tick_advances_by_elapsed_time_and_drops_missed_frames(player, model, clock):
    player.play()
    player.tick()
    assert model.frame_index == 0  # no period has passed
    clock.now += 0.051
    player.tick()
    assert model.frame_index == 1 and player.dropped_frames == 0
    clock.now += 0.175  # 3.5 periods late: show frame 4, drop 2 and 3
    player.tick()
    assert model.frame_index == 4 and player.dropped_frames == 2
    clock.now += 0.030  # the half period left over is not lost
    player.tick()
    assert model.frame_index == 5


def test_the_scheduler_is_asked_to_wake_when_the_next_frame_is_due(player, clock, scheduler):
    player.play()
    assert scheduler.delays == [pytest.approx(0.05)]
    clock.now += 0.06  # woken 10 ms late
    scheduler.callback()
    assert scheduler.delays[-1] == pytest.approx(0.04)  # the next one keeps to the clock
    player.pause()
    assert scheduler.callback is None and not player.playing


def test_loop_wraps_and_bounce_reverses(player, model, clock):
    model.set_frame(FRAMES - 2)
    player.play()
    clock.now += 3 * 0.05 + 0.001
    player.tick()
    assert model.frame_index == 1
    player.pause()
    player.set_mode(BOUNCE)
    model.set_frame(FRAMES - 2)
    player.play()
    clock.now += 3 * 0.05 + 0.001
    player.tick()
    assert model.frame_index == FRAMES - 3 and player.direction == -1
    with pytest.raises(ValueError):
        player.set_mode("shuffle")


@pytest.mark.parametrize(
    "index, steps, direction, mode, expected",
    [(0, 1, 1, LOOP, (1, 1)), (9, 1, 1, LOOP, (0, 1)), (0, 1, -1, LOOP, (9, -1)), (9, 1, 1, BOUNCE, (8, -1)),
     (8, 3, 1, BOUNCE, (7, -1)), (1, 3, -1, BOUNCE, (2, 1)), (0, 18, 1, BOUNCE, (0, 1))],
)
def test_advance(index, steps, direction, mode, expected):
    assert advance(index, steps, 10, direction, mode) == expected


def test_a_new_document_stops_playback(player, model, cine_path):
    states = []
    player.playing_changed.connect(states.append)
    player.play()
    with open_document(cine_path) as other:
        model.set_document(other)
        assert states == [True, False] and player.direction == 1
        model.set_document(None)
    player.play()  # nothing to play
    assert not player.playing


def test_fps_meter():
    clock = FakeClock()
    meter = FpsMeter(clock=clock)
    for _ in range(31):
        meter.count()
        clock.now += 1 / 30
    assert meter.fps() == pytest.approx(30, rel=0.05)
    meter.reset()
    assert meter.fps() == 0
