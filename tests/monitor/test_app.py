"""na64daq monitor from the command line: --snapshot of a run file and of its saved
histograms, and one line for a file that is neither."""

import subprocess
import sys

from PyQt5 import QtGui


def _monitor(tmp_path, *argv, timeout=300):
    """Offscreen, with a conditions database of the test's own (the logbook panel reads it)."""
    return subprocess.run([sys.executable, "-m", "daq.app.cli", "monitor", *argv],
                          capture_output=True, text=True, timeout=timeout,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                               "PYTHONSAFEPATH": "1",
                               "HOME": str(tmp_path), "NA64DAQ_DB": str(tmp_path / "c.db")})


def test_snapshot_of_a_run_file_and_of_its_saved_histograms(tmp_path, write_run, qapp):
    write_run(tmp_path)
    png = tmp_path / "all.png"
    out = _monitor(tmp_path, "--file", str(tmp_path / "run_000007.h5"), "--snapshot", str(png))
    assert out.returncode == 0, out.stderr
    image = QtGui.QImage(str(png))
    assert image.width() == 2 * 1280 and image.height() == 6 * 800  # 11 panels, two a row
    # a panel is not blank: many colours in the overview's quarter
    colours = {image.pixel(x, y) for x in range(0, 1280, 7) for y in range(40, 800, 7)}
    assert len(colours) > 50


def test_a_file_that_is_not_a_run_file_gets_one_line(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not HDF5 at all\n")
    for path in (bad, tmp_path / "missing.h5"):
        out = _monitor(tmp_path, "--file", str(path), "--snapshot", str(tmp_path / "x.png"),
                       timeout=60)
        assert out.returncode == 2 and out.stderr.startswith("na64daq: error: ")
        assert out.stderr.count("\n") == 1 and str(path) in out.stderr
