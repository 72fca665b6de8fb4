"""NA64's raw data: DATE files of MSADC blocks, read and written (``docs/raw-format.md``)."""
