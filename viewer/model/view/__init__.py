"""View state outside Qt: what is shown (frame, window, playback, read-ahead) and the words for it.

:class:`ViewerModel` holds the document, the frame shown and the
window/level; :class:`Playback` moves the frame by the clock;
:class:`ReadAheadPolicy` chooses the frames to prefetch and release;
:mod:`~viewer.model.view.captions` says what is shown in plain words. The
widgets in :mod:`viewer.ui` subscribe to their signals
(:class:`viewer.model.events.Signal`) and send them commands; nothing here
imports Qt, so the logic is tested without a screen.
"""

from viewer.model.view.playback import BOUNCE, LOOP, FpsMeter, Playback, advance
from viewer.model.view.read_ahead import ReadAheadPolicy
from viewer.model.view.viewer_model import ViewerModel

__all__ = ["BOUNCE", "LOOP", "FpsMeter", "Playback", "ReadAheadPolicy", "ViewerModel", "advance"]
