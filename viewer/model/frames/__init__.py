"""Frame sources: where a document's frames come from, chosen once at open.

One class per kind of pixel data (the strategy pattern, as pydicom picks a
decoder plugin once per transfer syntax). :class:`~viewer.model.frames.base.FrameSource`
is the seam: the document asks its source for a frame or a region and never
tests what kind of data it holds.
"""
