"""Export frames and cines: PNG, TIFF, MP4 (H.264) and GIF, as the viewer shows them.

A package of its own beside the model, not inside it: exporting needs
Pillow and PyAV, which the document model does not, and it is a *use* of the
model (open a document, render frames through its display pipeline, write
files) like the command line and the GUI. It imports no Qt, so scripts use it
as they use the model::

    from viewer.export import export_file

    export_file("cine.dcm", "loop.mp4", frames="1-100", fps=25)
    export_file("cr.dcm", "cr.png")                 # the file's first VOI, 8-bit
    export_file("ct.dcm", "ct.png", window=(40, 400))
    export_file("ct.dcm", "ct.tif", raw=True)      # stored values, 16-bit TIFF

With a document already open (the viewer does this, with its window and
pending edits), :func:`export_document`.

**Grey levels.** The document's grey pipeline
(:mod:`viewer.model.display.pipeline`): Modality LUT, the VOI (the file's
first, a VOI LUT where it has one, as pydicom prefers; or the window or VOI
number asked for), scaled to 0..255 over what the pipeline gives for every
storable value, inverted for MONOCHROME1. A file with no window and no VOI
LUT is exported with the viewer's automatic window: the 0.5th to 99.5th
percentile of the modality values of 16 frames spread over the file.
"""

from viewer.export.frames import UsageError, default_name, output_format, parse_frames, series_paths
from viewer.export.renderer import FrameRenderer, choose_voi
from viewer.export.run import ExportResult, default_fps, export_document, export_file
from viewer.export.writers import Cancelled, ExportError

__all__ = [
    "Cancelled",
    "ExportError",
    "ExportResult",
    "FrameRenderer",
    "UsageError",
    "choose_voi",
    "default_fps",
    "default_name",
    "export_document",
    "export_file",
    "output_format",
    "parse_frames",
    "series_paths",
]
