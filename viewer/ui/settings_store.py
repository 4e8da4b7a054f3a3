"""Load and save :class:`viewer.model.settings.Settings` and the recent files with ``QSettings``.

Values live under the group ``settings/`` of organisation "Cinemap",
application "Cinemap". Values that do not validate (a store written by
another version, or edited by hand) fall back to their defaults.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from viewer.model.settings import Settings

ORGANIZATION = "Cinemap"
APPLICATION = "Cinemap"
MAX_RECENT_FILES = 10
_GROUP = "settings"
_RECENT_KEY = "recent_files"
_GEOMETRY_KEY = "window/geometry"


class SettingsStore(QObject):
    """The user's settings and recent files, persisted with ``QSettings``.

    Parameters
    ----------
    qsettings : QSettings, optional
        Where to store; by default ``QSettings(ORGANIZATION, APPLICATION)``.
        Tests pass one in a temporary scope.

    Signals
    -------
    changed(object, list)
        The new :class:`Settings` and the names of the settings that changed.
    recent_changed(list)
        The recent files, most recent first.
    """

    changed = Signal(object, list)
    recent_changed = Signal(list)

    def __init__(self, qsettings: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)
        self.settings = self.load()

    def load(self) -> Settings:
        """Read the settings (defaults for anything missing or invalid)."""
        self.qsettings.beginGroup(_GROUP)
        try:
            data = {key: self.qsettings.value(key) for key in self.qsettings.childKeys()}
        finally:
            self.qsettings.endGroup()
        return Settings.from_dict(data, strict=False)

    def save(self, settings: Settings) -> None:
        """Store `settings` and announce what changed."""
        changed = self.settings.changed_fields(settings)
        self.qsettings.beginGroup(_GROUP)
        try:
            for name, value in settings.to_dict().items():
                self.qsettings.setValue(name, value)
        finally:
            self.qsettings.endGroup()
        self.qsettings.sync()
        self.settings = settings
        if changed:
            self.changed.emit(settings, changed)

    # --------------------------------------------------------- recent files
    def recent_files(self) -> list[str]:
        """Recently opened files that still exist, most recent first."""
        value = self.qsettings.value(_RECENT_KEY, [])
        # QSettings may give a one-path list back as a string, and an empty one as None.
        paths = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else []
        return [path for path in paths if isinstance(path, str) and os.path.exists(path)]

    def add_recent_file(self, path: str) -> None:
        path = os.path.abspath(path)
        files = [path] + [other for other in self.recent_files() if other != path]
        self._set_recent(files[:MAX_RECENT_FILES])

    def clear_recent_files(self) -> None:
        self._set_recent([])

    def _set_recent(self, files: list[str]) -> None:
        self.qsettings.setValue(_RECENT_KEY, files)
        self.qsettings.sync()
        self.recent_changed.emit(files)

    # ------------------------------------------------------ window geometry
    def window_geometry(self) -> QByteArray | None:
        """The main window's geometry as the user left it (``QWidget.saveGeometry``), or None."""
        value = self.qsettings.value(_GEOMETRY_KEY)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window_geometry(self, geometry: QByteArray) -> None:
        self.qsettings.setValue(_GEOMETRY_KEY, geometry)
        self.qsettings.sync()
