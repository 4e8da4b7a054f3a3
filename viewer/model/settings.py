"""The user's settings as a typed schema, with no Qt.

Each field of :class:`Settings` carries a :class:`SettingInfo` (title, one
sentence of explanation, unit, bounds, choices, and when a change takes
effect) so that the GUI can build its settings dialog from the schema alone
and store the values wherever it likes (the Qt side uses ``QSettings``).
:meth:`Settings.from_dict` validates what comes back from storage, which may
be strings (INI files keep no types).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

from viewer.model.storage import fileaccess

NEXT_OPEN = "next open"
IMMEDIATELY = "immediately"
NOT_USED_YET = "not used yet"

FILE_ACCESS_CHOICES = fileaccess.FILE_ACCESS_CHOICES
DISK_CACHE_FOLDER = "frames"


@dataclass(frozen=True)
class SettingInfo:
    """What the dialog needs to know about one setting.

    Attributes
    ----------
    title : str
        Label in the dialog.
    description : str
        One sentence saying what the setting does.
    unit : str
        "bytes", "MB", "frames", "fps" or "" (the dialog may show bytes in KiB/MiB).
    minimum, maximum : float or None
        Inclusive bounds of numeric settings.
    choices : tuple of str
        Allowed values of a choice setting (empty otherwise).
    effect : str
        When a change takes effect: :data:`NEXT_OPEN`, :data:`IMMEDIATELY`
        or :data:`NOT_USED_YET`.
    """

    title: str
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    effect: str = NEXT_OPEN


def _setting(default: Any, **info: Any) -> Any:
    return field(default=default, metadata={"info": SettingInfo(**info)})


@dataclass(frozen=True)
class Settings:
    """Every user setting, with its default. Immutable: use :meth:`replace`."""

    memmap_threshold_bytes: int = _setting(
        1 << 20,
        title="Memory-map values larger than",
        description="Binary values above this size are mapped from the file instead of being read into memory.",
        unit="bytes",
        minimum=0,
        maximum=1 << 32,
    )
    frame_cache_mb: int = _setting(
        256,
        title="Frame cache",
        description="Memory kept for decoded frames of compressed files, so that scrubbing back does not decode again.",
        unit="MB",
        minimum=0,
        maximum=64 * 1024,
    )
    read_ahead_frames: int = _setting(
        8,
        title="Read-ahead",
        description="Frames fetched in the background ahead of the one shown, in the direction of play.",
        unit="frames",
        minimum=0,
        maximum=256,
        effect=IMMEDIATELY,
    )
    open_read_write: bool = _setting(
        False,
        title="Open files for editing",
        description="Open files in read/write mode instead of read-only (takes the file's edit lock).",
    )
    cine_default_fps: float = _setting(
        30.0,
        title="Default cine rate",
        description="Frame rate used for files that do not give their own.",
        unit="fps",
        minimum=0.1,
        maximum=1000.0,
        effect=IMMEDIATELY,
    )
    file_access: str = _setting(
        "automatic",
        title="File access",
        description=(
            "Automatic maps files on local disks and reads them on network file systems, "
            "where a failing mapped page would end the program; the other choices force one way."
        ),
        choices=FILE_ACCESS_CHOICES,
    )
    disk_cache_mb: int = _setting(
        2048,
        title="Disk cache for decoded frames",
        description="Space on disk for decoded frames of compressed files, so that a loop plays at full speed from its second pass (0 turns it off).",
        unit="MB",
        minimum=0,
        maximum=1024 * 1024,
    )

    # ------------------------------------------------------------------ schema
    @classmethod
    def fields(cls) -> Iterator[tuple[str, type, SettingInfo, Any]]:
        """Yield ``(name, type, info, default)`` for every setting, in order."""
        for item in dataclasses.fields(cls):
            yield item.name, _type_of(item), item.metadata["info"], item.default

    @classmethod
    def info(cls, name: str) -> SettingInfo:
        """The :class:`SettingInfo` of setting `name`."""
        for field_name, _, info, _ in cls.fields():
            if field_name == name:
                return info
        raise KeyError(name)

    @classmethod
    def validate(cls, name: str, value: Any) -> Any:
        """Return `value` converted to setting `name`'s type, or raise ValueError.

        Strings are accepted for every type ("true", "42", "1.5"), because
        that is what INI-backed stores give back.
        """
        for field_name, kind, info, _ in cls.fields():
            if field_name == name:
                return _convert(name, kind, info, value)
        raise ValueError(f"unknown setting {name!r}")

    # ------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}`` of every setting."""
        return {name: getattr(self, name) for name, *_ in self.fields()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, strict: bool = True) -> "Settings":
        """Build settings from `data`; missing names keep their defaults.

        Parameters
        ----------
        data : dict
            ``{name: value}``; values may be strings.
        strict : bool
            If True, an unknown name or invalid value raises ValueError; if
            False, it is skipped and the default kept (for loading a store
            written by another version).
        """
        values = {}
        known = {name for name, *_ in cls.fields()}
        for name, value in data.items():
            if name not in known:
                if strict:
                    raise ValueError(f"unknown setting {name!r}")
                continue
            try:
                values[name] = cls.validate(name, value)
            except ValueError:
                if strict:
                    raise
        return cls(**values)

    def replace(self, **changes: Any) -> "Settings":
        """A copy with `changes` applied, validated."""
        checked = {name: self.validate(name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **checked)

    def changed_fields(self, other: "Settings") -> list[str]:
        """Names of the settings whose value differs in `other`."""
        return [name for name, *_ in self.fields() if getattr(self, name) != getattr(other, name)]

    # ------------------------------------------------------------- consumers
    def open_options(self, cache_folder: str | None = None) -> dict[str, Any]:
        """Keyword arguments for :func:`viewer.model.open_document`.

        Parameters
        ----------
        cache_folder : str, optional
            The application's cache folder; the decoded-frame disk cache goes
            in its ``frames`` subfolder. Without it there is no disk cache.
        """
        options: dict[str, Any] = {
            "memmap_threshold": self.memmap_threshold_bytes,
            "cache_bytes": self.frame_cache_mb << 20,
            "writable": self.open_read_write,
            "file_access": self.file_access,
        }
        if cache_folder and self.disk_cache_mb > 0:
            options["disk_cache_dir"] = os.path.join(cache_folder, DISK_CACHE_FOLDER)
            options["disk_cache_bytes"] = self.disk_cache_mb << 20
        return options


def _type_of(item: dataclasses.Field) -> type:
    # Annotations are strings under ``from __future__ import annotations``.
    return {"int": int, "float": float, "bool": bool, "str": str}[str(item.type)]


def _convert(name: str, kind: type, info: SettingInfo, value: Any) -> Any:
    try:
        if kind is bool:
            converted: Any = _to_bool(value)
        elif kind is int:
            converted = _to_int(value)
        elif kind is float:
            converted = float(value)
        else:
            converted = str(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {value!r} is not a valid {kind.__name__}") from exc
    if info.choices and converted not in info.choices:
        raise ValueError(f"{name}: {converted!r} is not one of {', '.join(info.choices)}")
    if kind in (int, float):
        if converted != converted:  # NaN
            raise ValueError(f"{name}: not a number")
        if info.minimum is not None and converted < info.minimum:
            raise ValueError(f"{name}: {converted} is below the minimum {info.minimum:g}")
        if info.maximum is not None and converted > info.maximum:
            raise ValueError(f"{name}: {converted} is above the maximum {info.maximum:g}")
    return converted


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a bool is not an int")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    number = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(value)
    return int(number)
