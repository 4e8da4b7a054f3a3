"""A background task whose signals object is deleted while it runs stays silent."""

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from shiboken6 import Shiboken  # noqa: E402

from viewer.ui.workers import Task  # noqa: E402


def test_task_finishing_after_its_signals_were_deleted_raises_nothing(qapp):
    started, release = threading.Event(), threading.Event()
    errors = []

    def work(progress):
        started.set()
        release.wait(5)
        return 42

    task = Task(work)
    thread = threading.Thread(target=lambda: _run(task, errors))
    thread.start()
    assert started.wait(5)
    Shiboken.delete(task.signals)  # the owner went away meanwhile
    release.set()
    thread.join(5)
    assert not thread.is_alive()
    assert errors == []


def _run(task, errors):
    try:
        task.run()
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)
