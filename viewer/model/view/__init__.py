"""View state outside Qt: what is shown (frame, window, playback) and the words that describe it.

The widgets in :mod:`viewer.ui` subscribe to these objects' signals
(:class:`viewer.model.events.Signal`) and send them commands; nothing here
imports Qt, so the logic is tested without a screen.
"""
