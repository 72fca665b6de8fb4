"""Run files in HDF5: layout, writing, reading, verification, recovery, export and
re-reconstruction (``docs/file-format.md``)."""
