"""Settings: the typed schema (no Qt), the QSettings store and the dialog built from the schema."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox  # noqa: E402

from viewer.model.settings import NEXT_OPEN, Settings  # noqa: E402
from viewer.ui.settings_dialog import ByteSizeEdit, SettingsDialog  # noqa: E402
from viewer.ui.settings_store import SettingsStore  # noqa: E402


# ------------------------------------------------------------------ schema
def test_defaults():
    settings = Settings()
    assert settings.memmap_threshold_bytes == 1 << 20
    assert (settings.frame_cache_mb, settings.read_ahead_frames, settings.open_read_write) == (256, 8, False)
    assert (settings.cine_default_fps, settings.file_access, settings.disk_cache_mb) == (30.0, "automatic", 2048)


def test_every_field_has_a_title_a_sentence_and_an_effect():
    for name, kind, info, default in Settings.fields():
        assert info.title and info.description.endswith(".") and info.effect
        assert Settings.validate(name, default) == default
    assert Settings.info("memmap_threshold_bytes").effect == NEXT_OPEN


def test_dict_round_trip_and_string_values():
    settings = Settings(frame_cache_mb=64, open_read_write=True, file_access="read", cine_default_fps=12.5)
    assert Settings.from_dict(settings.to_dict()) == settings
    from_strings = Settings.from_dict({"frame_cache_mb": "64", "open_read_write": "true", "file_access": "read",
                                       "cine_default_fps": "12.5"})
    assert from_strings == settings


@pytest.mark.parametrize("name, value", [("frame_cache_mb", -1), ("read_ahead_frames", "many"),
                                         ("file_access", "sometimes"), ("open_read_write", "perhaps"),
                                         ("cine_default_fps", 0), ("frame_cache_mb", 1.5), ("nonsense", 1)])
def test_invalid_values_are_refused(name, value):
    with pytest.raises(ValueError):
        Settings.from_dict({name: value})
    lenient = Settings.from_dict({name: value}, strict=False)
    assert lenient == Settings()


def test_open_options(tmp_path):
    assert Settings().open_options() == {"memmap_threshold": 1 << 20, "cache_bytes": 256 << 20, "writable": False,
                                         "file_access": "automatic"}
    assert Settings(file_access="read").open_options()["file_access"] == "read"
    options = Settings(disk_cache_mb=10).open_options(str(tmp_path))
    assert options["disk_cache_dir"] == str(tmp_path / "frames") and options["disk_cache_bytes"] == 10 << 20
    assert "disk_cache_dir" not in Settings(disk_cache_mb=0).open_options(str(tmp_path))


def test_options_open_a_document(cine_path, tmp_path):
    from viewer.model import open_document

    for access in ("automatic", "memory-map", "read"):
        with open_document(cine_path, **Settings(file_access=access).open_options(str(tmp_path))) as document:
            assert document.frame(3).shape == document.frame_shape


# ------------------------------------------------------------------- store
def test_store_round_trips_through_qsettings(store, qsettings, tmp_path):
    changed = []
    store.changed.connect(lambda settings, names: changed.append(names))
    edited = store.settings.replace(frame_cache_mb=512, read_ahead_frames=3, open_read_write=True,
                                    memmap_threshold_bytes=4096, file_access="memory-map")
    store.save(edited)
    assert sorted(changed[0]) == sorted(["frame_cache_mb", "read_ahead_frames", "open_read_write",
                                         "memmap_threshold_bytes", "file_access"])
    again = SettingsStore(QSettings(qsettings.fileName(), QSettings.Format.IniFormat))
    assert again.settings == edited
    assert str(tmp_path) in qsettings.fileName()  # the temporary scope, not the user's settings


def test_store_ignores_bad_stored_values(qsettings):
    qsettings.setValue("settings/frame_cache_mb", "lots")
    qsettings.setValue("settings/read_ahead_frames", "4")
    qsettings.sync()
    settings = SettingsStore(qsettings).settings
    assert settings.frame_cache_mb == 256 and settings.read_ahead_frames == 4


def test_recent_files(store, tmp_path):
    files = []
    for number in range(12):
        path = tmp_path / f"f{number}.dcm"
        path.write_bytes(b"")
        store.add_recent_file(str(path))
        files.append(str(path))
    store.add_recent_file(files[5])
    recent = store.recent_files()
    assert recent[0] == files[5] and len(recent) == 10 and len(set(recent)) == 10
    os.unlink(files[11])
    assert files[11] not in store.recent_files()


# ------------------------------------------------------------------ dialog
def test_dialog_has_an_editor_per_setting(qtbot):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    editors = {name: editor for name, (editor, _, _) in dialog.editors.items()}
    assert set(editors) == {name for name, *_ in Settings.fields()}
    assert isinstance(editors["open_read_write"], QCheckBox)
    assert isinstance(editors["file_access"], QComboBox)
    assert isinstance(editors["memmap_threshold_bytes"], ByteSizeEdit)
    assert isinstance(editors["frame_cache_mb"], QSpinBox) and editors["frame_cache_mb"].suffix() == " MB"
    assert isinstance(editors["cine_default_fps"], QDoubleSpinBox)
    assert not dialog.reopen_button.isVisibleTo(dialog)


def test_dialog_edits_and_restores_defaults(qtbot):
    dialog = SettingsDialog(Settings(), can_reopen=True)
    qtbot.addWidget(dialog)
    threshold = dialog.editors["memmap_threshold_bytes"][0]
    assert threshold.unit.currentText() == "MiB" and threshold.number.value() == 1.0
    threshold.unit.setCurrentText("KiB")
    assert threshold.number.value() == 1024.0  # same size, other unit
    threshold.number.setValue(64)
    dialog.editors["frame_cache_mb"][0].setValue(100)
    dialog.editors["file_access"][0].setCurrentText("read")
    edited = dialog.settings()
    assert (edited.memmap_threshold_bytes, edited.frame_cache_mb, edited.file_access) == (64 * 1024, 100, "read")
    dialog.restore_defaults()
    assert dialog.settings() == Settings()
    assert dialog.reopen_button.isVisibleTo(dialog)
