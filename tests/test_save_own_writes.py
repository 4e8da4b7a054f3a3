"""A document's own save is never taken for another program's change of the file.

The GUI saves on a worker thread while the UI thread keeps fetching frames
and polling ``changed_on_disk``; a failed save rolls back, which writes too.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pydicom
import pytest

from viewer.model import FileChangedError, SaveError, open_document
from viewer.model.editing import journal
from viewer.synthetic import write_cine


@pytest.fixture
def path(tmp_path):
    return write_cine(tmp_path / "cine.dcm", frames=6, rows=16, columns=24)


def _mask():
    mask = np.zeros((16, 24), bool)
    mask[2:6, 3:9] = True
    return mask


def _checking_during_save(monkeypatch, document, seen, fail_at=None):
    real = journal.journaled_write

    def journaled_write(*args, step_hook=None, **kwargs):
        def hook(step):
            seen.append((step, document.changed_on_disk))
            document.frame(1)  # a frame fetch on "another thread" mid-save
            if step == fail_at:
                raise OSError(errno.EIO, os.strerror(errno.EIO))

        return real(*args, step_hook=hook, **kwargs)

    monkeypatch.setattr(journal, "journaled_write", journaled_write)


def test_checks_during_and_after_a_save_see_no_foreign_change(path, monkeypatch):
    with open_document(path, writable=True) as document:
        document.apply_mask(_mask(), 7, frames=1)
        seen = []
        _checking_during_save(monkeypatch, document, seen)
        document.save()
        assert [reason for _step, reason in seen] == [None] * len(seen) and "mid-write" in dict(seen)
        assert document.changed_on_disk is None
        assert (pydicom.pixels.pixel_array(str(path), index=1)[2:6, 3:9] == 7).all()


def test_a_failed_and_rolled_back_save_is_no_foreign_change_either(path, monkeypatch):
    with open_document(path, writable=True) as document:
        document.apply_mask(_mask(), 7, frames=1)
        seen = []
        _checking_during_save(monkeypatch, document, seen, fail_at="mid-write")
        with pytest.raises(SaveError):
            document.save()
        assert document.changed_on_disk is None and document.dirty
        assert (document.frame(1)[2:6, 3:9] == 7).all()


def test_another_programs_change_is_still_reported_after_a_refused_save(path):
    with open_document(path, writable=True) as document:
        document.apply_mask(_mask(), 7, frames=1)
        stamp = os.stat(path).st_mtime_ns
        os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # "another program" touched it
        with pytest.raises(FileChangedError):
            document.save()
        assert document.changed_on_disk is not None
