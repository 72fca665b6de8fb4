"""``na64daq reco FILE``: the reconstruction of a run file computed again from its raw
waveforms (``docs/reconstruction.md``, Reproducibility), written as a reconstruction file that
points to its source (``docs/file-format.md``).

- With what the file records (its configuration, constants and each batch's learnt state),
  it is a *reproduction*: bit for bit the online values, checked column by column.
- With ``--relearn``, the learnt state is learnt again, per spill in event order.
- With other constants or another configuration, it is a *new reconstruction*, with its own
  tag, reconstructed with the recorded state unless ``--relearn``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from daq.core.config_schema import to_dict
from daq.core.detector import Detector, DetectorMapError
from daq.core.run_database import RunDatabase
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import RecoConfig, recorded
from daq.run_file import layout as L
from daq.run_file.digests import column_digests, compare_columns, differing, rounding_report
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings
from daq.run_file.reader import RunReader
from daq.run_file.verification import open_verified

#: ``--relearn``: the pedestals the constants lack are learnt from this many first events.
LEARN_PEDESTALS_EVENTS = 1024


def reconstruction_tag(config: dict[str, Any], calibration: dict[str, Any], state: str) -> str:
    """What identifies a reconstruction: its configuration, constants and where its learnt
    state came from (``recorded`` or ``relearned``)."""
    text = json.dumps({"reco_config": config, "calibration": calibration, "state": state},
                      sort_keys=True)
    return f"{state}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def reprocess(path: str | Path, out: str | Path | None = None,
              config: RecoConfig | None = None, constants: dict[str, Any] | None = None,
              batch_events: int = 1024, conditions: RunDatabase | None = None,
              verify_blocks: bool = True, relearn: bool = False,
              skip_complete: bool = False) -> dict[str, Any]:
    """Re-reconstruct the run of ``path`` into ``out`` (default ``FILE.reco.h5``), with
    ``config`` and ``constants`` (default: those the run was taken with), updated by what
    the ``conditions`` database has in force for the run when given. ``batch_events``
    matters only to ``relearn`` (and not to its result). With ``skip_complete``, an ``out``
    that is already this reconstruction of this run, complete and verified, is kept
    (``skipped``): a run over many files resumes. Returns what was done, with
    ``reproduction`` and, for one, ``differing`` (the columns that are not bit for bit)."""
    from daq.reco.reconstruction import Reconstruction  # numba: only when reconstructing

    path = Path(path)
    with open_verified(path, verify_blocks) as run:
        if run.format != L.FORMAT or not run.has_raw:
            raise L.RunFileError(f"{path}: no raw waveforms to reconstruct (format "
                                 f"{run.format})")
        out = Path(out) if out else path.with_name(path.name.removesuffix(".h5") + ".reco.h5")
        detector, config, cal, reproduction = _what_to_use(run, path, config, constants,
                                                           conditions, relearn)
        tag = reconstruction_tag(to_dict(config), cal.to_dict(),
                                 "relearned" if relearn else "recorded")
        summary = {"file": str(out), "source_file": str(path), "run": run.run,
                   "events": run.n_events, "calibration_tag": cal.tag,
                   "reconstruction_tag": tag, "reproduction": reproduction, "skipped": False}
        if skip_complete and _complete(out, run, tag):
            return dict(summary, skipped=True)
        prov = {name: run.provenance(name) for name in ("daq_config", "run_record")
                if name in run.files[0][L.PROVENANCE]}
        prov.update(reco_config=json.dumps(to_dict(config)),
                    calibration=json.dumps(cal.to_dict()))
        partial = out.with_name(out.name + ".partial")  # renamed once complete and verified
        partial.unlink(missing_ok=True)
        header = FileHeader(run.run, detector, prov, {
            "source_file": path.name, "source_run_uuid": run.run_uuid,
            "reconstruction": "reproduction" if reproduction else "new",
            "reconstruction_tag": tag}, format=L.RECO_FORMAT, raw=False, name=partial.name)
        writer = RunFileWriter(out.parent, header, WriterSettings(block_events=batch_events))
        try:
            _reconstruct_into(writer, run, path, Reconstruction(detector, config, cal),
                              relearn, batch_events)
        except BaseException:
            writer.close(None)
            partial.unlink(missing_ok=True)
            raise
        writer.close(run.run_end())
        n_events = run.n_events
        online = column_digests(run) if reproduction else {}
    with open_verified(partial) as done:
        if done.n_events != n_events:
            raise L.RunFileError(f"{partial}: {done.n_events} events written, not all")
        if reproduction:
            summary["differing"] = differing(online, column_digests(done))
            if summary["differing"]:  # by how much: a few ULP elsewhere, or a real change
                with RunReader(path) as source:
                    summary["differences"] = compare_columns(source, done,
                                                             summary["differing"])
                    summary["rounding"] = rounding_report(source, done)
    partial.replace(out)
    return summary


def _what_to_use(run: RunReader, path: Path, config: RecoConfig | None,
                 constants: dict[str, Any] | None, conditions: RunDatabase | None,
                 relearn: bool) -> tuple[Detector, RecoConfig, CalibrationConstants, bool]:
    """The detector, configuration and constants to reconstruct with, and whether that is a
    reproduction (the run's own configuration and constants, with its recorded state)."""
    try:
        detector = Detector.from_text(run.provenance("detector_map"), f"{path} map")
        online_cal = CalibrationConstants.from_dict(run.provenance_json("calibration"),
                                                    detector.n_channels)
        cal = (CalibrationConstants.from_dict(constants, detector.n_channels) if constants
               else online_cal)
        online_config = recorded(run.provenance_json("reco_config", missing_ok=True))
    except (DetectorMapError, ValueError) as exc:
        raise L.RunFileError(f"{path}: {exc}") from None
    config = config or online_config
    if conditions is not None:
        from daq.conditions import Conditions

        cal = Conditions(conditions, detector).constants(run.run, cal)
    reproduction = (not relearn and to_dict(config) == to_dict(online_config)
                    and cal.to_dict() == online_cal.to_dict())
    return detector, config, cal, reproduction


def _reconstruct_into(writer: RunFileWriter, run: RunReader, path: Path, reco,
                      relearn: bool, batch_events: int) -> None:
    """Every event of ``run`` through ``reco`` into ``writer``, each batch with the state it
    was reconstructed with: the recorded one, batch by batch, or relearnt per spill."""
    from daq.reco.reconstruction import LearntState

    n_ch = reco.detector.n_channels
    if relearn:
        first = next(run.chunks([L.SAMPLES], LEARN_PEDESTALS_EVENTS), None)
        if first is not None:
            reco.learn_pedestals(first[L.SAMPLES])
        batches = ((c[L.SAMPLES], c[L.EVENTS])
                   for c in run.chunks([L.EVENTS, L.SAMPLES], batch_events))
        for events, result, channels, state in reco.relearn(batches):
            writer.append(events, None, result, channels.table(),
                          L.state_row(n_ch, len(events), state.record()))
    else:
        for row, chunk in run.batches([L.EVENTS, L.SAMPLES]):
            if not row["recorded"]:
                raise L.RunFileError(
                    f"{path}: the batch at row {row['first_row']} has no recorded learnt "
                    "state (reconstructed online by the stub?); '--relearn' learns it "
                    "afresh")
            state = LearntState(row["pedestal_adc"], row["drift_sums"])
            events = chunk[L.EVENTS]
            result, channels = reco(chunk[L.SAMPLES], events, state)
            writer.append(events, None, result, channels.table(),
                          L.state_row(n_ch, len(events), state.record()))
    for row, ledger in zip(run.spills(), run.spill_ledgers(), strict=False):
        writer.write_spill(row[None], ledger)


def _complete(out: Path, run, tag: str) -> bool:
    """Whether ``out`` is already reconstruction ``tag`` of ``run``, every event there and
    every block verified."""
    if not out.exists():
        return False
    try:
        with open_verified(out) as done:
            return (done.format == L.RECO_FORMAT and done.n_events == run.n_events
                    and done.attrs.get("source_run_uuid") == run.run_uuid
                    and done.attrs.get("reconstruction_tag") == tag)
    except L.RunFileError:
        return False
