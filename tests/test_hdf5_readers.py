"""Every kind of file we write opens in Debian's HDF5 1.10 tools, a reader we did not write
(``docs/file-format.md``: the 1.10 file format, the oldest that keeps SWMR)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_to_end

from daq.app.cli import main

pytestmark = pytest.mark.timeout(300)

TOOLS = shutil.which("h5ls") and shutil.which("h5dump")
if not TOOLS and os.environ.get("NA64DAQ_REQUIRE_HDF5_TOOLS"):  # .ci/run installs them
    raise RuntimeError("h5ls and h5dump (Debian's hdf5-tools) are required here")


@pytest.mark.skipif(not TOOLS, reason="Debian's hdf5-tools (h5ls, h5dump) are not installed "
                    "here; .ci/run installs them and requires this test")
def test_run_truth_reco_and_monitor_files_open_in_hdf5_1_10_tools(daq, tmp_path):
    version = subprocess.run(["h5dump", "--version"], capture_output=True, text=True).stdout
    assert "Version 1.10." in version, version  # the old reader is the point
    sup = daq(**{"emulator.run.spills": 1})
    assert run_to_end(sup)["balanced"], sup.error
    run_file = Path(sup.procs["writer"].counters["file"])
    reco_file = tmp_path / "again.h5"
    assert main(["reco", str(run_file), "--out", str(reco_file)]) == 0
    files = {"run": run_file, "truth": run_file.with_name(run_file.stem + ".truth.h5"),
             "monitor": run_file.with_name(run_file.stem + ".monitor.h5"), "reco": reco_file}
    for kind, path in files.items():
        assert path.exists(), kind
        listing = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True,
                                 cwd=path.parent)
        assert listing.returncode == 0 and "*ERROR*" not in listing.stdout, (kind, listing)
        assert listing.stderr == "", (kind, listing.stderr)
        header = subprocess.run(["h5dump", "-H", str(path)], capture_output=True, text=True,
                                cwd=path.parent)
        assert header.returncode == 0 and header.stderr == "", (kind, header.stderr[-2000:])
    listing = subprocess.run(["h5ls", "-r", str(run_file)], capture_output=True, text=True)
    for name in ("/events", "/blocks", "/spills", "/reco/events", "/reco/channels",
                 "/reco/state", "/raw/samples", "/provenance/channels"):
        assert f"{name} " in listing.stdout, name
