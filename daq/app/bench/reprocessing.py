"""Reprocessing many run files (``na64daq reco FILES...``): files per minute in one process,
and on a local Dask cluster of 1 and 2 worker processes, on the same files, in one run. The
cluster's rows include its start-up, as a user waits for it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from daq.app.bench.stages import reconstructed_batches
from daq.app.reprocessing_cluster import Options, reprocess_files
from daq.core.detector import Detector
from daq.reco.calibration_constants import CalibrationConstants
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.reprocessing import reprocess


def run_files(directory: Path, n_files: int, events_per_file: int) -> list[str]:
    """``n_files`` copies of one emulated run (5e6 e-/spill, 128-event batches with their
    learnt state), ``copyNN.h5``."""
    det = Detector.load()
    calibration = json.dumps(CalibrationConstants.nominal(det).to_dict())
    made = directory / "made"
    out = RunFileWriter(made, FileHeader(1, det, {"calibration": calibration}),
                        WriterSettings())
    for part in reconstructed_batches(events_per_file, 128):
        out.append(*part)
    out.close({"ledger": {}})
    return [str(shutil.copy(out.path, directory / f"copy{k:02d}.h5")) for k in range(n_files)]


def measure(directory: Path, n_files: int = 6, events_per_file: int = 40_000
            ) -> list[dict[str, Any]]:
    files = run_files(directory, n_files, events_per_file)
    reprocess(files[0], directory / "warm.h5")  # numba's cache and HDF5's filters, once
    rows = []

    def row(name: str, seconds: float, **extra: Any) -> dict[str, Any]:
        return {"name": name, "files_per_min": 60.0 * n_files / seconds,
                "events_per_s": n_files * events_per_file / seconds, "seconds": seconds,
                "files": n_files, "events_per_file": events_per_file, **extra}

    t0 = time.perf_counter()
    for k, f in enumerate(files):
        reprocess(f, directory / f"single-{k}.h5")
    rows.append(row("reprocess_one_process", time.perf_counter() - t0))
    for workers in (1, 2):
        t0 = time.perf_counter()  # the cluster's start and stop alone, with no file
        reprocess_files([], Options(), workers=workers, progress=False)
        overhead = time.perf_counter() - t0
        out_dir = directory / f"dask-{workers}"
        out_dir.mkdir()
        t0 = time.perf_counter()
        outcome = reprocess_files(files, Options(out_dir=str(out_dir)), workers=workers,
                                  progress=False)
        rows.append(row(f"reprocess_dask_{workers}_workers", time.perf_counter() - t0,
                        failed=len(outcome.failed), workers=workers,
                        cluster_start_and_stop_s=overhead))
    return rows
