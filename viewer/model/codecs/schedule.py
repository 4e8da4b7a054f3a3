"""Which frames to decode next during playback, so that no decode is wasted on a dropped frame.

Playback is timed by the wall clock: at time ``t`` the frame on screen is
the one at position ``floor((t - start) * fps)`` of the play order. A decode
started now on one of ``W`` workers that each take ``d`` seconds a frame
finishes at ``now + d``, the next ``W`` at ``now + 2d``, and so on. So:

1. the first frame worth decoding is the one that will be *due when its
   decode finishes*, not the next one in the file (that one would be late
   and dropped: decoding it is wasted work that makes the next one late too);
2. each further job skips ahead the same way: job ``i`` finishes at
   ``now + (i // W + 1) * d`` (later where workers are still busy with
   decodes under way: a job starts when a worker is free) and decodes the
   frame due then, or the next one not yet planned if the decoders are
   faster than the frame rate (then nothing is skipped);
3. frames already decoded (in the cache) cost no job;
4. a job's priority is its frame's due time, and after each plan the
   caller cancels queued jobs that are no longer in it
   (:meth:`~viewer.model.codecs.pool.DecodePool.retain`): they were due
   before their decode could finish, or scrubbing made them useless.

The plan has no slack of its own: a frame planned to be ready just as it
is due is late half the time if ``d`` is its mean. So the caller passes a
pessimistic ``d`` (:attr:`DecodeTimer.estimate`: the running mean plus
four times the running mean deviation, as TCP sets its retransmission
timeout from round-trip times, RFC 6298). While decoding is the limit the
slack costs nothing -- the workers stay busy either way, and a frame
decoded late is a decode wasted -- and when it is not, the plan is
consecutive frames whatever ``d`` is.

:func:`plan_decodes` is that rule as a pure function; the playback timer
calls it on each tick with a running estimate of ``d``
(:class:`DecodeTimer`, from :attr:`DecodedFrame.seconds
<viewer.model.codecs.pool.DecodedFrame.seconds>`).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["DecodeTimer", "Playback", "plan_decodes"]


@dataclass(frozen=True)
class Playback:
    """Where playback is: frame `start_frame` was shown at `start_time` and it advances at `fps`.

    Attributes
    ----------
    start_time : float
        Clock time (seconds, any monotonic clock) when `start_frame` was due.
    start_frame, count : int
        Frame index at `start_time`; number of frames.
    fps : float
        Frames per second, above 0.
    direction : int
        +1 forwards, -1 backwards.
    mode : str
        ``"loop"`` (wrap round), ``"bounce"`` (reverse at the ends) or ``"once"`` (stop at the end).
    """

    start_time: float
    start_frame: int
    count: int
    fps: float
    direction: int = 1
    mode: str = "loop"

    def position(self, time: float) -> int:
        """Steps taken since `start_time` (0 before it)."""
        return max(0, math.floor((time - self.start_time) * self.fps + 1e-9))

    def frame_at_position(self, position: int) -> int | None:
        """The frame shown at `position` steps, or None once a ``"once"`` playback has ended."""
        if self.count <= 1:
            return 0 if (position == 0 or self.mode != "once") else None
        if self.mode == "bounce":
            period = 2 * (self.count - 1)
            # unfold start_frame and direction onto the 0 .. period-1 cycle
            phase = self.start_frame if self.direction > 0 else period - self.start_frame
            step = (phase + position) % period
            return step if step < self.count else period - step
        frame = self.start_frame + self.direction * position
        if self.mode == "once":
            return frame if 0 <= frame < self.count else None
        return frame % self.count

    def due_time(self, position: int) -> float:
        """When the frame at `position` is due on screen."""
        return self.start_time + position / self.fps


def plan_decodes(playback: Playback, now: float, decode_seconds: float, workers: int,
                 ready: Callable[[int], bool], jobs: int, busy_until: Sequence[float] = ()) -> list[tuple[int, float]]:
    """The next frames to decode, most urgent first, as ``(frame, due time)``.

    Parameters
    ----------
    playback : Playback
    now : float
        The current time, on `playback`'s clock.
    decode_seconds : float
        Expected wall time of one decode on one worker (0 if unknown: plan
        consecutive frames).
    workers : int
        Decodes that run at once.
    ready : callable
        ``ready(frame)`` is True if the frame needs no decode (cached, or
        already queued or decoding: joining those costs nothing).
    jobs : int
        At most this many frames (the read-ahead depth).
    busy_until : sequence of float, optional
        When each worker busy with a decode under way is expected to be free
        (at most `workers` values; the other workers are free now).

    Returns
    -------
    list of (int, float)
        Frames in play order, skipping those that would be due before their
        decode could finish; use the due time as the pool priority.
    """
    plan: list[tuple[int, float]] = []
    seen: set[int] = set()
    workers = max(1, int(workers))
    decode_seconds = max(0.0, decode_seconds)
    free = sorted(max(now, float(time)) for time in busy_until)[:workers]
    free += [now] * (workers - len(free))  # when each worker can start its next job
    heapq.heapify(free)
    next_position = playback.position(free[0] + decode_seconds)
    # Bounded scan: enough positions to find `jobs` frames even if most are cached.
    for _ in range(max(jobs, 1) * 4 + playback.count):
        if len(plan) >= jobs:
            break
        finish = free[0] + decode_seconds  # the job starts on the first worker free
        position = max(next_position, playback.position(finish))
        frame = playback.frame_at_position(position)
        if frame is None:
            break
        next_position = position + 1
        if frame in seen or ready(frame):
            continue
        seen.add(frame)
        plan.append((frame, playback.due_time(position)))
        heapq.heapreplace(free, finish)
    return plan


class DecodeTimer:
    """Running estimate of one decode's wall time (exponentially weighted mean and mean deviation).

    Parameters
    ----------
    weight : float
        Weight of each new sample (0.2: about the last five decodes).

    Attributes
    ----------
    seconds : float
        The running mean.
    deviation : float
        The running mean absolute deviation from it (as TCP's round-trip
        estimator, RFC 6298, keeps beside its mean).
    """

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self.seconds = 0.0
        self.deviation = 0.0
        self.samples = 0

    @property
    def estimate(self) -> float:
        """A decode time few decodes exceed: the mean plus four times the deviation (0 until timed)."""
        return self.seconds + 4.0 * self.deviation

    def add(self, seconds: float) -> None:
        """Record one decode's duration."""
        if self.samples == 0:
            self.seconds = seconds
        else:
            self.deviation += self.weight * (abs(seconds - self.seconds) - self.deviation)
            self.seconds += self.weight * (seconds - self.seconds)
        self.samples += 1
