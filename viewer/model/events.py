"""A minimal, Qt-free observer: the model announces changes, views subscribe.

The UI layer connects Qt slots to these signals; the model never knows about
Qt. Callbacks run synchronously in the emitting thread, in connection order.
"""

from __future__ import annotations

from typing import Any, Callable


class Signal:
    """A list of callbacks called with the emitted arguments."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call `callback` on every :meth:`emit`; returns it (usable as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling `callback`; unknown callbacks are ignored."""
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, *args: Any) -> None:
        """Call every connected callback with `args`."""
        for callback in list(self._callbacks):
            callback(*args)
