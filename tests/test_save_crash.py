"""Kill a saving process at every step and at random moments: the file is always all-old or all-new.

A persistent "zygote" process imports numpy and the model once, then forks one
child per save, so a kill costs a fork rather than a Python start-up. Each
child maps the file, edits every frame (and the Burned In Annotation header
value), and saves; the test kills it with SIGKILL when it reports the step
(the child waits there) or after a random delay, then runs
:func:`viewer.model.editing.journal.recover` and reads every frame back with pydicom.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from dicom_builders import encode_pixels, write_dicom
from viewer.model.editing.journal import COMMITTED_STEPS, SAVE_STEPS, journal_path_for, recover

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"),
                                reason="needs os.fork and SIGKILL (POSIX) to kill saves at every step")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ZYGOTE = r"""
import json, os, signal, sys
import numpy as np
from viewer.model.editing.edits import EditSession

def say(*words):
    os.write(1, (" ".join(str(word) for word in words) + "\n").encode())  # one atomic write per line

def run(job):
    fd = os.open(job["path"], os.O_RDWR)
    stored = np.memmap(job["path"], mode="r", dtype=np.dtype(job["dtype"]), offset=job["offset"],
                       shape=tuple(job["stored_shape"]))
    frames = stored.transpose(0, 2, 3, 1) if job["planar"] else stored
    session = EditSession(job["path"], fd, frames, pixel_offset=job["offset"])
    rows, cols = job["mask_shape"]
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(job["mask"]), np.uint8))
    session.apply_mask(bits[: rows * cols].reshape(rows, cols).astype(bool), job["value"], None, label="Mask region")
    session.set_header_patch(job["patch_offset"], b"NO  ", label="Clear Burned In Annotation")

    def hook(step):
        say("step", step)
        if step == job["pause"]:
            while True:
                signal.pause()  # until the parent's SIGKILL

    say("saving")
    session.save(_step_hook=hook)
    say("saved")

child = None
for line in sys.stdin:
    if line.strip() == "reap":
        _pid, status = os.waitpid(child, 0)
        say("exit", os.waitstatus_to_exitcode(status))
        continue
    job = json.loads(line)
    child = os.fork()
    if child == 0:
        code = 0
        try:
            run(job)
        except BaseException as exc:
            say("error", repr(exc).replace("\n", " "))
            code = 1
        os._exit(code)
    say("child", child)
"""


# ---------------------------------------------------------------- helpers
def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Case:
    """A file, its pristine copy, and the old and new contents a save of the edit must produce."""

    path: str
    pristine: str
    old_pixels: np.ndarray
    new_pixels: np.ndarray
    old_digest: str
    new_digest: str
    job: dict

    def reset(self) -> None:
        shutil.copyfile(self.pristine, self.path)
        assert not os.path.exists(journal_path_for(self.path))


CASES = {
    "mono16": ((20, 64, 48), np.uint16, 0, False, 4000),
    "bigendian16": ((20, 64, 48), np.uint16, 0, True, 61234),
    "rgb-planar1": ((10, 32, 24, 3), np.uint8, 1, False, [255, 0, 128]),
}


def make_case(directory, name: str) -> Case:
    shape, dtype, planar, big_endian, value = CASES[name]
    rows, cols = shape[1:3]
    old = np.random.default_rng(len(name)).integers(0, 250, shape, dtype=dtype)
    mask = np.zeros((rows, cols), bool)
    mask[rows // 8:rows // 2, cols // 6:cols - 3] = True
    mask[np.arange(rows), 2 + np.arange(rows) * (cols - 5) // rows] = True  # a diagonal: the box spans every row
    new = old.copy()
    new[:, mask] = value
    pristine = os.path.join(directory, f"{name}-pristine.dcm")
    write_dicom(pristine, old, planar=planar, big_endian=big_endian)
    with open(pristine, "rb") as stream:
        old_bytes = stream.read()
    offset = pydicom.dcmread(pristine, defer_size=1024)["PixelData"].file_tell
    tag = b"\x28\x00\x01\x03CS" if not big_endian else b"\x00\x28\x03\x01CS"
    patch_offset = old_bytes.index(tag) + len(tag) + 2
    assert old_bytes[patch_offset:patch_offset + 4] == b"YES "
    new_bytes = bytearray(old_bytes)
    encoded = encode_pixels(new, planar=planar, big_endian=big_endian)
    new_bytes[offset:offset + len(encoded)] = encoded
    new_bytes[patch_offset:patch_offset + 4] = b"NO  "
    stored_shape = (shape[0], shape[3], rows, cols) if planar else shape
    job = {
        "path": os.path.join(directory, f"{name}.dcm"),
        "dtype": np.dtype(dtype).newbyteorder(">" if big_endian else "<").str,
        "offset": offset,
        "stored_shape": list(stored_shape),
        "planar": planar,
        "mask": np.packbits(mask).tobytes().hex(),
        "mask_shape": [rows, cols],
        "value": value,
        "patch_offset": patch_offset,
    }
    case = Case(job["path"], pristine, old, new, digest(old_bytes), digest(bytes(new_bytes)), job)
    case.reset()
    return case


class Zygote:
    """The persistent parent of the saving children, and its output as a queue of lines."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.unread: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, message: str) -> None:
        self.process.stdin.write(message + "\n")
        self.process.stdin.flush()

    def expect(self, wanted: str, timeout: float = 60.0) -> str:
        """The next line starting with `wanted` (others are kept); fails on a child's error or a finished save."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.unread:
                if line.startswith(wanted):
                    self.unread.remove(line)
                    return line
                if line.startswith("error"):
                    raise AssertionError(f"the saving child failed: {line}")
            try:
                self.unread.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {wanted!r} from the zygote; got {self.unread}") from None

    def save(self, case: Case, *, pause_at: str | None = None, kill_after: float | None = None) -> tuple[int, str | None]:
        """One save in a fresh child; kill it at `pause_at` or after `kill_after` seconds.

        Returns the child's exit code (-9 if killed) and the last step it reported.
        """
        self.unread.clear()
        self.send(json.dumps({**case.job, "pause": pause_at}))
        pid = int(self.expect("child ").split()[1])
        if pause_at is not None:
            self.expect(f"step {pause_at}")
            os.kill(pid, signal.SIGKILL)
        elif kill_after is not None:
            self.expect("saving")
            time.sleep(kill_after)
            # Not reaped until "reap": the pid cannot have been reused, even if the save finished.
            os.kill(pid, signal.SIGKILL)
        else:
            self.expect("saved")
        self.send("reap")
        code = int(self.expect("exit ").split()[1])
        while not self.lines.empty():
            self.unread.append(self.lines.get())
        steps = [line.split()[1] for line in self.unread if line.startswith("step ")]
        return code, steps[-1] if steps else None

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def zygote():
    process = Zygote()
    yield process
    process.close()


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    directory = tmp_path_factory.mktemp("crash")
    return {name: make_case(str(directory), name) for name in CASES}


def recover_and_check(case: Case) -> str:
    """Recover, then check the whole file and every frame: return "old" or "new"."""
    recover(case.path)
    assert not os.path.exists(journal_path_for(case.path))
    with open(case.path, "rb") as stream:
        file_digest = digest(stream.read())
    frames = pixel_array(case.path)
    old = [np.array_equal(frames[index], case.old_pixels[index]) for index in range(len(frames))]
    new = [np.array_equal(frames[index], case.new_pixels[index]) for index in range(len(frames))]
    assert all(old) or all(new), f"frames mix old and new: old={old} new={new}"
    state = "old" if all(old) else "new"
    assert file_digest == (case.old_digest if state == "old" else case.new_digest)
    burned_in = pydicom.dcmread(case.path, stop_before_pixels=True).BurnedInAnnotation
    assert burned_in == ("YES" if state == "old" else "NO")
    return state


def kill_at_each_step(zygote, case: Case, repeats: int) -> int:
    kills = 0
    for _ in range(repeats):
        for step in SAVE_STEPS:
            case.reset()
            code, _last = zygote.save(case, pause_at=step)
            assert code == -signal.SIGKILL
            kills += 1
            if step == "mid-write":  # the kill really left a half-written file
                with open(case.path, "rb") as stream:
                    assert digest(stream.read()) not in (case.old_digest, case.new_digest)
            assert recover_and_check(case) == ("new" if step in COMMITTED_STEPS else "old"), step
    return kills


# ------------------------------------------------------------------ tests
def test_a_finished_save_gives_the_new_file(zygote, cases):
    for case in cases.values():
        case.reset()
        code, last = zygote.save(case)
        assert (code, last) == (0, "journal-deleted")
        assert recover_and_check(case) == "new"


def test_a_kill_at_each_step_of_a_save(zygote, cases):
    assert kill_at_each_step(zygote, cases["mono16"], repeats=1) == len(SAVE_STEPS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_kills_at_each_step_of_many_saves(zygote, cases, name):
    assert kill_at_each_step(zygote, cases[name], repeats=4) == 4 * len(SAVE_STEPS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_kills_at_random_moments(zygote, cases, name):
    case = cases[name]
    durations = []
    for _ in range(3):  # how long a save takes here, from "saving" to its end
        case.reset()
        started = time.monotonic()
        assert zygote.save(case)[0] == 0
        durations.append(time.monotonic() - started)
        recover_and_check(case)
    window = 1.2 * float(np.median(durations))
    rng = random.Random(f"{name}-kills")
    kills, outcomes, landed = 0, {"old": 0, "new": 0}, {}
    for _attempt in range(400):
        case.reset()
        code, last_step = zygote.save(case, kill_after=rng.uniform(0, window))
        if code == -signal.SIGKILL:
            kills += 1
            landed[last_step] = landed.get(last_step, 0) + 1
        else:
            assert code == 0
        outcomes[recover_and_check(case)] += 1
        if kills >= 45:
            break
    print(f"{name}: {kills} random kills; after step: {landed}; outcomes {outcomes}; save takes ~{window / 1.2 * 1000:.1f} ms")
    assert kills >= 45
