"""Frames of encapsulated Pixel Data without an offset table: found by walking items, shared by threads.

:class:`FrameWalk` owns one :class:`~viewer.model.dicom.fragment_scan.FragmentScan`
and lets one thread at a time extend it: a reader that wants frame k walks
until frame k is located; :meth:`FrameWalk.complete_index` (a background
thread) walks the rest in batches and steps aside whenever a reader waits.

Before the walk ends, fragments are grouped tentatively: at end-of-image
markers for the JPEG family (a frame ends with the fragment holding EOI/EOC),
one fragment per frame otherwise. Both agree with pydicom's ``get_frame``
for every file whose frames are one fragment each or end with their marker;
once every fragment is known, pydicom's exact rules (which depend on the
fragment count) replace the tentative groups, and a difference is reported.
"""

from __future__ import annotations

import threading
from typing import Callable

from viewer.model.dicom.fragment_scan import DELIMITER_REACHED, FragmentScan, final_grouping
from viewer.model.dicom.offset_tables import FrameRun, frame_label
from viewer.model.errors import TruncatedFileError

SCAN_BATCH = 256
"""Items the background walk reads before letting a waiting reader take over."""

Callback = Callable[[], None]


class FrameWalk:
    """Frame locations found by walking items, extended on demand. Thread-safe.

    Parameters
    ----------
    scan : FragmentScan
        A walk from the first item after the (empty) Basic Offset Table.
    number_of_frames : int
        Number of Frames from the header: the count until the walk ends.
    frame_markers : bool
        Group tentatively at end-of-image markers (JPEG family) rather than
        one fragment per frame.
    scan_advice : callable, optional
        Called with True before the first item is walked and False when the walk ends.
    on_complete : callable, optional
        Called without arguments, once, by the thread whose walk ended, after
        the final groups are in place.
    """

    def __init__(self, scan: FragmentScan, number_of_frames: int, frame_markers: bool,
                 scan_advice: Callable[[bool], None] | None = None, on_complete: Callback | None = None) -> None:
        self.scan = scan
        self.number_of_frames = number_of_frames
        self._frame_markers = frame_markers
        self._scan_advice = scan_advice
        self._on_complete = on_complete
        self._groups: list[tuple[int, int]] = []  # (first, last) fragment of each located frame
        self._grouped = 0  # fragments already grouped
        self._open_group = 0  # first fragment of the frame being grouped
        self._condition = threading.Condition()
        self._walking = False
        self._waiting = 0
        self._cancelled = False
        self._advised = False
        self.complete = False
        self.num_frames = number_of_frames
        self.regrouped = False
        self.warnings: list[str] = []

    @property
    def truncated(self) -> bool:
        """True once the walk met the end of the file before the sequence delimiter."""
        return self.scan.done and self.scan.ended_by != DELIMITER_REACHED

    def is_located(self, index: int) -> bool:
        """True if frame `index` is located (never blocks)."""
        return 0 <= index < (self.num_frames if self.complete else len(self._groups))

    def run(self, index: int) -> FrameRun:
        """Frame `index`'s items, walking up to them in this thread if needed.

        Raises
        ------
        TruncatedFileError
            If the walk ended before frame `index`.
        """
        if index >= len(self._groups) and not self.complete:
            self.walk_until(lambda: index < len(self._groups) or self.complete)
        groups = self._groups
        if index >= len(groups) or index >= self.num_frames:
            raise TruncatedFileError(
                self.scan.path,
                f"{frame_label(index, self.number_of_frames)} is not in the file: the compressed Pixel Data "
                f"holds {self.num_frames} frame(s)",
            )
        first, last = groups[index]
        return FrameRun(self.scan.offsets[first], self.scan.item_end(last))

    def walk_until(self, wanted: Callable[[], bool]) -> None:
        """Walk items in this thread until `wanted()` or the end; one walker at a time."""
        with self._condition:
            self._waiting += 1
            try:
                while self._walking and not wanted():
                    self._condition.wait()
                if wanted():
                    return
                self._walking = True
            finally:
                self._waiting -= 1
        ended = False
        try:
            while not wanted():
                if not self._step():
                    ended = True
                    break
        finally:
            self._stop_walking(ended)

    def complete_index(self, stop: threading.Event | None = None) -> None:
        """Walk every remaining item, yielding to waiting readers after each batch.

        Returns when the walk has ended, or early when `stop` is set or
        :meth:`cancel` was called.
        """
        while not self.complete:
            with self._condition:
                while (self._walking or self._waiting) and not self._stopped(stop):
                    self._condition.wait(0.5)
                if self._stopped(stop) or self.complete:
                    return
                self._walking = True
            ended = False
            try:
                for _ in range(SCAN_BATCH):
                    if not self._step():
                        ended = True
                        break
            finally:
                self._stop_walking(ended)

    def _stopped(self, stop: threading.Event | None) -> bool:
        return self._cancelled or (stop is not None and stop.is_set())

    def cancel(self) -> None:
        """Make a running :meth:`complete_index` return soon."""
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()

    def _stop_walking(self, ended: bool) -> None:
        with self._condition:
            self._walking = False
            self._condition.notify_all()
        if ended and self._on_complete is not None:
            self._on_complete()

    def _step(self) -> bool:
        """One item (the caller is the walker); False once the walk has ended."""
        if not self._advised and self._scan_advice is not None:
            self._advised = True
            self._scan_advice(True)
        if self.scan.step():
            self._group_tentatively()
            return True
        self._finish()
        return False

    def _group_tentatively(self) -> None:
        if self.number_of_frames == 1:
            return  # one frame takes every fragment: known only at the end
        count = len(self.scan)
        for fragment in range(self._grouped, count):
            if not self._frame_markers or self.scan.marked[fragment]:
                self._groups.append((self._open_group, fragment))
                self._open_group = fragment + 1
        self._grouped = count

    def _finish(self) -> None:
        final = final_grouping(self.scan.marked, self.number_of_frames)
        found = len(final)
        self.regrouped = final[: len(self._groups)] != self._groups
        if self.truncated:
            self.warnings.append(f"the compressed Pixel Data is cut short by the end of the file: {found} frame(s) found")
        if found < self.number_of_frames:
            self.warnings.append(f"Number of Frames is {self.number_of_frames} but only {found} frame(s) were found")
        if self._scan_advice is not None and self._advised:
            self._scan_advice(False)
        with self._condition:
            self._groups = final
            self.num_frames = min(found, self.number_of_frames)
            self.complete = True
