"""The benchmark's synthetic files: sizes, the cache folder, reuse and cleanup.

Files are named by geometry and frame count, written under a temporary name
and renamed when complete, so a file with the final name is always whole and
is reused by the next run. :class:`FileSet` remembers what a run used so that
it can delete everything at the end unless ``--keep`` was given.
"""

from __future__ import annotations

import os
import pathlib
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"500M"``, ``"2G"``, ``"3.5GiB"`` or ``"65536"``.

    Units are binary (1K = 1024 bytes).

    Raises
    ------
    ValueError
        If `text` is not a positive size.
    """
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 500M, 2G, 3.5G)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return size


def format_size(size: int) -> str:
    """Short binary form of a byte count: ``2G``, ``512M``, ``1.5G``."""
    for unit in ("T", "G", "M", "K"):
        scale = _UNITS[unit]
        if size >= scale:
            value = size / scale
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.2g}{unit}"
    return f"{size}B"


def default_cache_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/cinemap/bench`` (``~/.cache/cinemap/bench`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "cinemap" / "bench"


@dataclass
class BenchFile:
    """One file a benchmark run used.

    Attributes
    ----------
    role : str
        What it is for (``"main"``, ``"gui-1024"``, ``"compressed"``, ...).
    path : str
        Where it is.
    size : int
        Its size in bytes.
    frames : int
        Number of frames.
    geometry : str
        Human-readable frame format, e.g. ``"512x512 16-bit grey"``.
    reused : bool
        True if it was already there from an earlier ``--keep`` run.
    generate_seconds : float
        Time taken to write it (0 if reused).
    extra : dict
        Anything else a measurement needs (pixel offset, frame spans).
    """

    role: str
    path: str
    size: int
    frames: int
    geometry: str
    reused: bool = False
    generate_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready description."""
        return asdict(self)


class FileSet:
    """The files of one run, in one folder; deleted by :meth:`cleanup` unless kept.

    Parameters
    ----------
    folder : pathlib.Path
        The cache folder (created if missing).
    """

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[BenchFile] = []
        self.deleted = False

    def path_for(self, name: str) -> pathlib.Path:
        """Path of a file called `name` in the folder."""
        return self.folder / name

    def ensure(
        self,
        role: str,
        name: str,
        write: Callable[[pathlib.Path], dict[str, Any]],
        describe: Callable[[pathlib.Path], dict[str, Any]],
    ) -> BenchFile:
        """Reuse file `name` if complete, else write it through a temporary name.

        Parameters
        ----------
        role : str
            Role recorded in the :class:`BenchFile`.
        name : str
            File name; it must encode everything that makes the file differ.
        write : callable
            ``write(path)`` writes the file and returns fields for
            :class:`BenchFile` (``frames``, ``geometry``, ``extra``).
        describe : callable
            ``describe(path)`` returns the same fields from an existing file;
            it raises if the file is not usable, and the file is then rewritten.

        Returns
        -------
        BenchFile
        """
        path = self.path_for(name)
        if path.exists():
            try:
                fields = describe(path)
                return self._record(role, path, fields, reused=True, seconds=0.0)
            except Exception:
                path.unlink(missing_ok=True)
        partial = path.with_name(path.name + ".partial")
        started = time.perf_counter()
        try:
            write(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        fields = describe(path)
        return self._record(role, path, fields, reused=False, seconds=time.perf_counter() - started)

    def _record(self, role: str, path: pathlib.Path, fields: dict[str, Any], *, reused: bool,
                seconds: float) -> BenchFile:
        bench_file = BenchFile(role=role, path=str(path), size=path.stat().st_size, reused=reused,
                               generate_seconds=round(seconds, 3), **fields)
        self.files.append(bench_file)
        return bench_file

    def cleanup(self) -> None:
        """Delete every file of this run (and the folder if it is left empty)."""
        for bench_file in self.files:
            pathlib.Path(bench_file.path).unlink(missing_ok=True)
        self.deleted = True
        try:
            self.folder.rmdir()
        except OSError:
            pass  # other files in it (kept runs, the user's own)


def native_cine(files: FileSet, role: str, size: int, rows: int, columns: int) -> BenchFile:
    """A 16-bit grey cine of about `size` bytes of pixel data, via ``write_cine``."""
    from viewer.synthetic import frames_for_size, write_cine

    frames = frames_for_size(size, rows=rows, columns=columns, bits_allocated=16)
    geometry = f"{columns}x{rows} 16-bit grey"

    def write(path: pathlib.Path) -> dict[str, Any]:
        write_cine(path, frames=frames, rows=rows, columns=columns, bits_allocated=16)
        return {}

    def describe(path: pathlib.Path) -> dict[str, Any]:
        return describe_native(path, frames, geometry)

    return files.ensure(role, f"cine-{columns}x{rows}x16-{frames}f.dcm", write, describe)


def describe_native(path: pathlib.Path, frames: int, geometry: str) -> dict[str, Any]:
    """Frame count and pixel offset of a native cine; raises if it is incomplete."""
    from viewer.model import open_document

    with open_document(path) as document:
        if document.num_frames != frames or document.warnings:
            raise ValueError(f"{path} is incomplete")
        extra = {
            "pixel_offset": document.pixel_offset,
            "rows": document.frame_shape[0],
            "columns": document.frame_shape[1],
            "dtype": str(document.dtype),
            "frame_nbytes": document.geometry.frame_nbytes,
        }
    return {"frames": frames, "geometry": geometry, "extra": extra}
