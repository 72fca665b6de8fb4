"""``na64daq reco FILE``: the reconstruction re-run on a run file's raw waveforms (a new
calibration, a new configuration), written as a reconstruction file that points to its source
(``docs/file-format.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daq.core.config_schema import to_dict
from daq.core.detector import Detector, DetectorMapError
from daq.core.run_database import RunDatabase
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import RecoConfig, recorded
from daq.run_file import layout as L
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.verification import open_verified


def reprocess(path: str | Path, out: str | Path | None = None,
              config: RecoConfig | None = None, constants: dict[str, Any] | None = None,
              batch_events: int = 1024, conditions: RunDatabase | None = None,
              verify_blocks: bool = True) -> dict[str, Any]:
    """Re-reconstruct the run of ``path`` into ``out`` (default ``FILE.reco.h5``), with
    ``config`` and ``constants`` (default: those the run was taken with), updated by what
    the ``conditions`` database has in force for the run when given."""
    from daq.reco.reconstruction import Reconstruction  # numba: only when re-processing

    path = Path(path)
    with open_verified(path, verify_blocks) as run:
        if run.format != L.FORMAT or not run.has_raw:
            raise L.RunFileError(f"{path}: no raw waveforms to reconstruct (format "
                                 f"{run.format})")
        out = Path(out) if out else path.with_name(path.name.removesuffix(".h5") + ".reco.h5")
        try:
            detector = Detector.from_text(run.provenance("detector_map"), f"{path} map")
            cal = CalibrationConstants.from_dict(
                constants or run.provenance_json("calibration"), detector.n_channels)
            config = config or recorded(run.provenance_json("reco_config", missing_ok=True))
        except (DetectorMapError, ValueError) as exc:
            raise L.RunFileError(f"{path}: {exc}") from None
        if conditions is not None:
            from daq.conditions import Conditions

            cal = Conditions(conditions, detector).constants(run.run, cal)
        reco = Reconstruction(detector, config, cal)
        prov = {name: run.provenance(name) for name in ("daq_config", "run_record")
                if name in run.files[0][L.PROVENANCE]}
        prov.update(reco_config=json.dumps(to_dict(config)),
                    calibration=json.dumps(cal.to_dict()))
        header = FileHeader(run.run, detector, prov, {"source_file": path.name,
                                                      "source_run_uuid": run.run_uuid},
                            format=L.RECO_FORMAT, raw=False, name=out.name)
        writer = RunFileWriter(out.parent, header, WriterSettings(block_events=batch_events))
        try:
            for chunk in run.chunks([L.EVENTS, L.SAMPLES], batch_events):
                events = chunk[L.EVENTS]
                result, channels = reco(chunk[L.SAMPLES], events)
                writer.append(events, None, result, channels.table())
            for row, ledger in zip(run.spills(), run.spill_ledgers(), strict=False):
                writer.write_spill(row[None], ledger)
        finally:
            writer.close(run.run_end())
        return {"file": str(out), "source_file": str(path), "run": run.run,
                "events": writer.written_events, "calibration_tag": cal.tag}
