"""Structure-aware fuzzing of the document model.

* :mod:`fuzz.layout` finds where each top-level element and each
  encapsulated item of a DICOM file sits, byte for byte.
* :mod:`fuzz.mutators` turns a real file into a broken one: truncations,
  flipped header bytes, absurd group 0028 values, lying lengths and offset
  tables, junk, duplicated elements.
* :mod:`fuzz.harness` opens and renders each mutant in a child process, so a
  crash (SIGSEGV, SIGBUS) or a hang is seen as a failure, not as the end of
  the test run.
* :mod:`fuzz.campaign` ties them together; ``python tests/fuzz`` runs one
  from the command line.
"""
