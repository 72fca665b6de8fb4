"""Reading in a child process: a crash there is a one-line error here, and the caller lives."""

from __future__ import annotations

import os

import pytest

from daq.run_file.isolated import isolated, vet_run_file
from daq.run_file.layout import RunFileError


def test_a_result_and_an_exception_come_back_as_they_are():
    assert isolated(sorted, [3, 1, 2]) == [1, 2, 3]
    assert isolated(print, "noise") is None  # what the child prints does not garble the answer
    with pytest.raises(ValueError, match="invalid literal"):
        isolated(int, "x")


def test_a_child_that_crashes_is_a_run_file_error_and_the_caller_lives():
    with pytest.raises(RunFileError, match=r"crashed the reader \(signal 6\)"):
        isolated(os.abort)  # as libhdf5 aborts on a crafted file
    assert isolated(len, "alive") == 5


def test_vetting_refuses_what_the_reader_refuses_and_passes_a_sound_file(tmp_path, write_run):
    out = write_run(tmp_path)
    vet_run_file(out.path)
    (tmp_path / "not.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(RunFileError, match="not.h5"):
        vet_run_file(tmp_path / "not.h5")
