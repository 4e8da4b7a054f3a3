"""The Qt side of Cinemap: small widgets that subscribe to the model and send it commands.

Nothing in :mod:`viewer.model` imports from here. What is shown (document,
frame, window/level, playback, read-ahead) lives in the Qt-free
:mod:`viewer.model.view`; the widgets subscribe to its signals and call its
methods. :mod:`viewer.app` wires the widgets into the main window. One
widget per module:

- :mod:`~viewer.ui.image_view`, :mod:`~viewer.ui.frame_controls`,
  :mod:`~viewer.ui.cine_controls`, :mod:`~viewer.ui.window_level`,
  :mod:`~viewer.ui.tag_browser`, :mod:`~viewer.ui.status_bar`,
  :mod:`~viewer.ui.settings_dialog`, :mod:`~viewer.ui.about_dialog`,
  :mod:`~viewer.ui.shortcuts_dialog`, :mod:`~viewer.ui.main_window` (with
  :mod:`~viewer.ui.main_menus` and :mod:`~viewer.ui.opening`);
- editing: :mod:`~viewer.ui.edit_tools` (what each tool does, no Qt),
  :mod:`~viewer.ui.edit_controller` (active tool and options, applied to the
  document), :mod:`~viewer.ui.edit_panel` (tool bar and options dock),
  :mod:`~viewer.ui.edit_overlay` (previews), :mod:`~viewer.ui.saving` (save,
  revert, Save / Discard / Cancel), :mod:`~viewer.ui.deid_dialog`
  (mask outside ultrasound regions);
- :mod:`~viewer.ui.file_watch` -- the file changed on disk: a Reload/Close
  bar, and frames fetched safely from an unleased mapping;
  :mod:`~viewer.ui.help_menu`;
- helpers: :mod:`~viewer.ui.qt_bridge` (model callbacks onto the GUI thread),
  :mod:`~viewer.ui.cine_player` (the timer that wakes playback),
  :mod:`~viewer.ui.workers` (background work with progress),
  :mod:`~viewer.ui.text_layout` (readable help text, wrapped labels),
  :mod:`~viewer.ui.error_dialog`, :mod:`~viewer.ui.settings_store`,
  :mod:`~viewer.ui.memory`, :mod:`~viewer.ui.paths`, :mod:`~viewer.ui.demo`,
  :mod:`~viewer.benchmarks.playback`.
"""
