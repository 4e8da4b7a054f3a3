"""Which frames playback decodes next: the frame due when its decode finishes, never a dropped one."""

from __future__ import annotations

import pytest

from viewer.model.codecs.schedule import DecodeTimer, Playback, plan_decodes


def _frames(plan):
    return [frame for frame, _ in plan]


def test_fast_decoders_plan_consecutive_frames_after_the_one_due():
    playback = Playback(start_time=0.0, start_frame=10, count=100, fps=60.0)
    plan = plan_decodes(playback, now=0.0, decode_seconds=0.005, workers=1, ready=lambda frame: False, jobs=5)
    assert _frames(plan) == [10, 11, 12, 13, 14]
    assert [due for _, due in plan] == pytest.approx([k / 60 for k in range(5)])


def test_slow_decoders_skip_to_the_frame_due_when_the_decode_ends():
    # 60 fps, 50 ms a decode, one worker: each decode spans 3 frames.
    playback = Playback(start_time=0.0, start_frame=0, count=1000, fps=60.0)
    plan = plan_decodes(playback, now=0.0, decode_seconds=0.05, workers=1, ready=lambda frame: False, jobs=4)
    assert _frames(plan) == [3, 6, 9, 12]
    for frame, due in plan:  # each is due no earlier than its decode can end
        assert due >= (frame // 3) * 0.05 - 1e-9


def test_two_workers_finish_in_pairs():
    playback = Playback(start_time=0.0, start_frame=0, count=1000, fps=60.0)
    plan = plan_decodes(playback, now=0.0, decode_seconds=0.05, workers=2, ready=lambda frame: False, jobs=4)
    assert _frames(plan) == [3, 4, 6, 7]


def test_late_start_begins_at_the_current_position():
    playback = Playback(start_time=0.0, start_frame=0, count=1000, fps=30.0)
    plan = plan_decodes(playback, now=2.0, decode_seconds=0.0, workers=1, ready=lambda frame: False, jobs=3)
    assert _frames(plan) == [60, 61, 62]


def test_cached_frames_cost_no_job():
    playback = Playback(start_time=0.0, start_frame=0, count=100, fps=30.0)
    cached = {1, 2, 4}
    plan = plan_decodes(playback, now=0.0, decode_seconds=0.0, workers=1, ready=cached.__contains__, jobs=3)
    assert _frames(plan) == [0, 3, 5]


def test_loop_wraps_and_never_plans_a_frame_twice():
    playback = Playback(start_time=0.0, start_frame=8, count=10, fps=30.0)
    plan = plan_decodes(playback, now=0.0, decode_seconds=0.0, workers=1, ready=lambda frame: False, jobs=20)
    assert _frames(plan) == [8, 9, 0, 1, 2, 3, 4, 5, 6, 7]


def test_once_stops_at_the_end_and_backwards_plays_down():
    once = Playback(start_time=0.0, start_frame=7, count=10, fps=30.0, mode="once")
    assert _frames(plan_decodes(once, 0.0, 0.0, 1, lambda frame: False, 10)) == [7, 8, 9]
    backwards = Playback(start_time=0.0, start_frame=2, count=10, fps=30.0, direction=-1)
    assert _frames(plan_decodes(backwards, 0.0, 0.0, 1, lambda frame: False, 4)) == [2, 1, 0, 9]


def test_bounce_reverses_at_the_ends():
    playback = Playback(start_time=0.0, start_frame=3, count=5, fps=30.0, mode="bounce")
    assert [playback.frame_at_position(p) for p in range(10)] == [3, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    down = Playback(start_time=0.0, start_frame=3, count=5, fps=30.0, direction=-1, mode="bounce")
    assert [down.frame_at_position(p) for p in range(6)] == [3, 2, 1, 0, 1, 2]


def test_decode_timer_follows_recent_decodes():
    timer = DecodeTimer(weight=0.5)
    timer.add(0.1)
    assert timer.seconds == pytest.approx(0.1)
    timer.add(0.3)
    assert timer.seconds == pytest.approx(0.2)


def test_workers_busy_with_decodes_under_way_start_later():
    # 60 fps, 50 ms a decode, one worker still busy for 50 ms: the first new decode ends at 100 ms.
    playback = Playback(start_time=0.0, start_frame=0, count=1000, fps=60.0)
    plan = plan_decodes(playback, 0.0, 0.05, 1, lambda frame: False, 3, busy_until=[0.05])
    assert _frames(plan) == [6, 9, 12]
    free = plan_decodes(playback, 0.0, 0.05, 2, lambda frame: False, 2, busy_until=[0.05])
    assert _frames(free) == [3, 6]  # the other worker was free at once


def test_decode_timer_estimate_covers_the_spread():
    timer = DecodeTimer(weight=0.5)
    for seconds in (0.1, 0.1):
        timer.add(seconds)
    assert timer.estimate == pytest.approx(0.1)
    timer.add(0.3)
    assert timer.seconds == pytest.approx(0.2) and timer.deviation == pytest.approx(0.1)
    assert timer.estimate == pytest.approx(0.6)
