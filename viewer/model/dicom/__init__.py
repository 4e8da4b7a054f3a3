"""DICOM parsing: headers, pixel data layout, functional groups, tags."""
