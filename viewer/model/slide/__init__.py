"""Whole-slide images (DICOM WSI): a pyramid of tiled levels plus label, overview and thumbnail.

See :func:`open_slide`. Nothing here imports Qt.
"""

from viewer.model.slide.level import SlideLevel
from viewer.model.slide.slide import DEFAULT_MAX_OPEN_FILES, DEFAULT_TILE_CACHE_BYTES, Slide, open_slide

__all__ = ["DEFAULT_MAX_OPEN_FILES", "DEFAULT_TILE_CACHE_BYTES", "Slide", "SlideLevel", "open_slide"]
