"""The platform layer: each capability's fast path and its fallback, and no Linux-only call outside it."""

from __future__ import annotations

import dataclasses
import mmap
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from viewer.model import platform
from viewer.model.platform import advice, memory, positional, process

ROOT = Path(__file__).resolve().parents[1]

# Calls that exist on only some systems (issue 12): they belong in viewer/model/platform/.
LINUX_ONLY = re.compile(
    r"import fcntl|os\.preadv?\(|os\.pwritev?\(|\.madvise\(|MADV_|['\"]/proc/|posix_fallocate|fstatvfs|"
    r"os\.getuid|signal\.SIGIO|os\.O_CLOEXEC|sched_getaffinity|posix_fadvise"
)
PENDING_REWRITE: set[str] = set()  # files whose rewrite is under way (none now)


def test_no_linux_only_call_outside_the_platform_layer():
    offenders = []
    for path in sorted((ROOT / "viewer").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("viewer/model/platform/") or relative in PENDING_REWRITE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if LINUX_ONLY.search(code) and '"""' not in line and "``" not in line:
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "Linux-only calls outside viewer/model/platform/:\n" + "\n".join(offenders)


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    data = np.random.default_rng(3).integers(0, 256, 1 << 20, dtype=np.uint8)
    path.write_bytes(data.tobytes())
    fd = os.open(path, os.O_RDWR | platform.OPEN_FLAGS)
    yield fd, data
    positional.forget(fd)
    os.close(fd)


@pytest.fixture(params=["native", "seek-fallback"])
def io_path(request, monkeypatch):
    """The platform's own positional I/O, and the locked seek+read fallback other systems may take."""
    if request.param == "seek-fallback":
        fallback = dataclasses.replace(platform.CAPABILITIES, positional_io=False, preadv=False, windows_io=False)
        monkeypatch.setattr(positional, "CAPABILITIES", fallback)
    return request.param


def test_positional_reads_from_many_threads_never_mix_offsets(data_file, io_path):
    fd, data = data_file
    errors = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(300):
            offset = int(rng.integers(0, data.size - 4096))
            length = int(rng.integers(1, 4096))
            got = positional.pread_exact(fd, length, offset)
            if bytes(got) != data[offset:offset + length].tobytes():
                errors.append((offset, length))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_positional_writes_and_the_end_of_the_file(data_file, io_path):
    fd, data = data_file
    positional.pwrite_all(fd, b"\x01\x02\x03", 10)
    assert bytes(positional.pread_exact(fd, 5, 9)) == bytes([data[9], 1, 2, 3, data[13]])
    buffer = bytearray(100)
    assert positional.pread_into(fd, buffer, data.size - 40) == 40  # short only at the end
    with pytest.raises(EOFError):
        positional.pread_exact(fd, 100, data.size - 40)


def test_advice_is_given_where_madvise_exists_and_never_raises(tmp_path):
    path = tmp_path / "mapped.bin"
    path.write_bytes(bytes(4 * mmap.PAGESIZE))
    with open(path, "rb") as stream:
        mapping = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        given = advice.advise(mapping, 100, 2 * mmap.PAGESIZE, "willneed")
        assert given == platform.CAPABILITIES.madvise
        assert advice.advise(mapping, 10 * mmap.PAGESIZE, 10, "dontneed") is False  # past the end
        assert advice.advise(mapping, 0, 0, "willneed") is False
        with pytest.raises(ValueError, match="willneed"):
            advice.advise(mapping, 0, 10, "soon")
    finally:
        mapping.close()


def test_pid_alive():
    assert process.pid_alive(os.getpid()) is True
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert process.pid_alive(int(dead.stdout)) is False
    assert process.pid_alive(0) is False


def test_access_mode_of_a_descriptor(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    read_only = os.open(path, os.O_RDONLY)
    writable = os.open(path, os.O_RDWR)
    try:
        assert process.open_for_writing(read_only) is False
        assert process.open_for_writing(writable) in (True, None)  # None: the OS cannot say (Windows)
        assert process.on_read_only_filesystem(writable) is False
    finally:
        os.close(read_only)
        os.close(writable)


def test_process_memory_where_the_platform_reports_it():
    use = memory.process_memory()
    if platform.PORTABLE:
        assert use == memory.ProcessMemory()
        return
    if use.resident is None:
        pytest.skip("this platform reports no process memory")
    block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB touched: anonymous memory grows
    after = memory.process_memory()
    assert after.resident >= use.resident and after.resident > 32 << 20
    if use.anonymous is not None:
        assert after.anonymous - use.anonymous > 32 << 20
    del block
    total = memory.physical_memory()
    assert total is None or total > after.resident
