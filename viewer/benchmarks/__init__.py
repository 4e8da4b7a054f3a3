"""Benchmarks behind ``cinemap bench``: files, per-method workers, report.

Every measurement runs in a fresh subprocess (``python -m viewer.bench
--worker SPEC``) that prints one JSON object; :mod:`viewer.bench` generates
the files, starts the workers and aggregates their figures into one table.

Modules
-------
files
    Size parsing, the cache folder and the synthetic files (reused if complete).
native
    Uncompressed frames: Cinemap, pydicom, a bare ``numpy.memmap``, ``os.pread``.
compressed
    A JPEG Baseline cine written frame by frame, and its decode speed.
jpeg
    A small numpy JPEG Baseline encoder (pydicom has none).
indexed
    A compressed cine past 4 GiB with an Extended Offset Table: open and
    random frames cold and warm, bytes read, and the same file walked without it.
enhanced
    An Enhanced CT-like file with a large per-frame functional groups sequence.
probe
    Memory sampling, page-cache eviction and timing helpers used by workers.
report
    Rows, cells, ratios against the floor and pydicom, goals.
tables
    The text and Markdown forms of a report.
worker
    The subprocess side: dispatch a spec to a measurement, print JSON.
"""
