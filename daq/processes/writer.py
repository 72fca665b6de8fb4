"""The file writer process: receives reconstructed batches (workers) and run/spill markers
(builder), puts them back in the builder's order, writes the run file (``daq/run_file``,
``docs/file-format.md``), and closes each spill's and the run's ledger.

A write that fails (disk full, unwritable directory) is reported in the heartbeat
(``failed``): the supervisor ends the run in the error state naming it; the events that could
not be written are counted ``not_written`` and the ledger still balances.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from daq.conditions import ask_database
from daq.core import built_batch
from daq.core.config_schema import to_dict
from daq.core.detector import Detector
from daq.core.ledger import spill_ledger, sum_ledgers
from daq.core.process_shell import ProcessShell, bind, drain
from daq.core.records import CLASS_NAMES
from daq.core.run_database import config_hash
from daq.processes.daq_config import DaqConfig
from daq.processes.worker import online_setup
from daq.run_file import layout as L
from daq.run_file.file_writer import (
    FileHeader,
    RunFileWriter,
    WriterSettings,
    directory_problem,
)
from daq.run_file.spill_figures import SpillFigures

PROBE_S = 1.0  # how often the run directory is checked: a run cannot start without it


def run_header(run: int, cfg: DaqConfig, detector: Detector,
               config_dict: dict[str, Any]) -> FileHeader:
    """Provenance of a run taken by this DAQ: its configuration, the reconstruction's, the
    calibration constants the workers use, and the run record."""
    reco_config, constants = online_setup(cfg, detector, run)
    try:  # the supervisor leaves the run record beside its logs
        record = json.loads(cfg.run_record_path(run).read_text())
    except (OSError, ValueError):  # started by hand, or the supervisor's disk is elsewhere
        record = {"run": run}
    hv = ask_database(detector, lambda c: c.lookup("hv_v", run))
    attrs = {}
    if cfg.run.sources == "emulator":
        attrs["truth_file"] = L.truth_file_name(run)
    return FileHeader(run, detector, {
        "daq_config": json.dumps(config_dict),
        "daq_config_sha256": config_hash(config_dict),
        "reco_config": json.dumps(to_dict(reco_config)),
        "calibration": json.dumps(constants.to_dict()),
        "run_record": json.dumps(record),
        "hv_set_points": json.dumps({"version": hv.id, "values": hv.values} if hv else None),
    }, attrs)


def writer_settings(cfg: DaqConfig) -> WriterSettings:
    w = cfg.writer
    return WriterSettings(w.chunk_events, w.block_events, w.compression, w.max_file_mb)


def run_end(ledger: dict[str, Any], classes: np.ndarray, started: float) -> dict[str, Any]:
    return {"ledger": ledger, "events": int(classes.sum()),
            "classes": {n: int(k) for n, k in zip(CLASS_NAMES, classes, strict=False)},
            "duration_s": time.time() - started}


def main(cfg: DaqConfig, detector: Detector, name: str = "writer",
         config_dict: dict[str, Any] | None = None) -> None:
    shell = ProcessShell.for_daq(name, cfg)
    pull = shell.ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 32)
    bind(pull, cfg.endpoints, "writer", shell.data_guard)
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    buffer: dict[tuple[int, int], built_batch.BuiltBatch] = {}  # (run, seq) -> item
    next_seq = 1
    out: RunFileWriter | None = None
    figures = SpillFigures(detector)
    run: int | None = None  # the run being written; None between runs
    expected: int | None = None  # the run the supervisor started: the only one to open
    ended: int | None = None  # the last run closed (its stragglers are duplicates)
    spills: list[dict[str, Any]] = []
    classes = np.zeros(len(CLASS_NAMES), np.int64)
    started = time.time()
    no_file: dict[int, int] = {}  # spill -> its events that had no file to go to
    c: dict[str, Any] = {"run": None, "written_events": 0, "written_bytes": 0,
                         "duplicates_suppressed": 0, "malformed": 0, "write_errors": 0,
                         "orphan_events": 0, "foreign_items": 0, "failed": None,
                         "next_seq": 1, "waiting": 0, "run_done": None,
                         "ledger": None, "spill_ledger": None, "rotation_refused": None,
                         "directory_problem": directory_problem(cfg.writer.directory)}
    shell.counters = c
    last_flush = last_probe = time.monotonic()
    while not shell.exiting:
        if pull.poll(50):
            shell.worked()
            for batch in built_batch.decode_all(drain(pull, 32), n_ch, n_s, c):
                key = (int(batch.header.get("run") or 0), batch.seq)
                written_already = key[0] == run and key[1] < next_seq
                if written_already or key in buffer or key[0] == ended:
                    c["duplicates_suppressed"] += 1  # re-queued after its worker died
                    continue
                if key[0] not in (run, expected):  # no run the supervisor started
                    c["foreign_items"] += 1
                    continue
                buffer[key] = batch
        while True:
            key = _next_item(buffer, run, next_seq, expected)
            if key is None:
                break
            batch = buffer.pop(key)
            next_seq = key[1] + 1
            if batch.kind == "SOR":
                if out is not None:  # the last run never ended (it failed): close its file
                    out.close(None)
                buffer = {k: v for k, v in buffer.items() if k[0] >= key[0]}
                run = batch.header["run"]
                spills, started = [], time.time()
                classes[:] = 0
                c.update(run=run, run_done=None, ledger=None, written_events=0, failed=None,
                         rotation_refused=None,
                         file=str(Path(cfg.writer.directory) / L.file_name(run)))
                try:
                    out = RunFileWriter(cfg.writer.directory,
                                        run_header(run, cfg, detector, config_dict or {}),
                                        writer_settings(cfg))
                except OSError as exc:
                    out, c["failed"] = None, str(exc)
            elif batch.kind == "events":
                if out is None:  # the file could not be created, or no run has started
                    c["write_errors"] += 1
                    if run is None:
                        c["orphan_events"] += len(batch.events)
                    else:
                        for spill in batch.events["spill"].tolist():
                            no_file[spill] = no_file.get(spill, 0) + 1
                    continue
                _append(out, batch, figures, classes, c, n_ch)
            elif batch.kind == "EOS":
                ledger = _end_spill(out, batch.header, figures, c,
                                    no_file.pop(batch.header["spill"], 0))
                spills.append(ledger)
                c["spill_ledger"] = ledger
            elif batch.kind == "EOR":
                ledger = sum_ledgers(spills, batch.header["info"])
                c.update(ledger=ledger, run_done=run)
                if out is not None:
                    out.close(run_end(ledger, classes, started))
                    out = None
                run, next_seq, ended = None, 1, run
                expected = None if expected == ended else expected
                if c["failed"]:  # HDF5 is not to be trusted after a failed write (below)
                    shell.exiting = True
            if out is not None:
                c["written_events"] = out.written_events
                c["written_bytes"] = out.written_bytes
                c["failed"] = out.failed
                c["rotation_refused"] = out.rotation_refused  # kept to the next run
                c["file"] = str(out.path)
        c["next_seq"], c["waiting"] = next_seq, len(buffer)
        if out is not None and time.monotonic() - last_flush > cfg.writer.flush_s:
            try:
                out.flush()
            except OSError:
                c["write_errors"] += 1
            c["failed"] = out.failed
            last_flush = time.monotonic()
        if time.monotonic() - last_probe > PROBE_S:  # before the next run needs it
            c["directory_problem"] = directory_problem(cfg.writer.directory)
            last_probe = time.monotonic()
        cmd = shell.command()
        if cmd and cmd.get("cmd") == "run" and type(cmd.get("run")) is int:
            expected = cmd["run"]
        elif cmd and cmd.get("cmd") == "close_run" and cmd.get("run") == run and \
                isinstance(cmd.get("ledger"), dict) and out is not None:
            # the builder is gone: what reached us is written (gaps and all), and the file
            # closes with the crates' counts, the loss counted as such
            for key in sorted(k for k in buffer if k[0] == run):
                batch = buffer.pop(key)
                if batch.kind == "events":
                    _append(out, batch, figures, classes, c, n_ch)
            ledger = dict(cmd["ledger"], written=out.written_events,
                          closed_because=str(cmd.get("reason"))[:500])
            if isinstance(ledger.get("triggered"), int):
                ledger["unaccounted"] = ledger["triggered"] - out.written_events
            c.update(ledger=ledger, run_done=run, written_events=out.written_events)
            out.close(run_end(ledger, classes, started))
            out, run, next_seq, ended = None, None, 1, run
            expected = None if expected == ended else expected
        shell.beat()
    if out is not None:
        out.close(None)
    shell.close()
    if c["failed"]:
        # After a failed write (disk full) the HDF5 library crashes in its own clean-up at
        # exit (h5py issue 914); everything that could be written is flushed and closed, so
        # leave without it. The supervisor starts a fresh writer for the next run.
        os._exit(0)


def _append(out: RunFileWriter, batch: built_batch.BuiltBatch, figures: SpillFigures,
            classes: np.ndarray, c: dict[str, Any], n_ch: int) -> None:
    """A batch of events into the file, its figures and its classes."""
    figures.add(batch.events, batch.reco, batch.channels)
    classes += np.bincount(batch.reco["event_class"], minlength=len(classes))
    try:
        out.append(batch.events, batch.samples, batch.reco, batch.channels,
                   L.state_row(n_ch, len(batch.events), batch.header.get("reco_state")))
    except OSError:
        c["write_errors"] += 1


def _end_spill(out: RunFileWriter | None, header: dict[str, Any], figures: SpillFigures,
               c: dict[str, Any], no_file: int) -> dict[str, Any]:
    """Write what is queued, then the spill's row and ledger; return the ledger."""
    if out is None:  # the run's file could not be created
        counts = {"complete": 0, "incomplete": 0, "not_written": no_file}
        return spill_ledger(header["spill"], header["info"], counts)
    try:
        out.write_block()
    except OSError:
        c["write_errors"] += 1  # counted as not written: the ledger says so
    ledger = spill_ledger(header["spill"], header["info"], out.take_spill_counts(header["spill"]))
    info = header["info"]
    out.write_spill(figures.row(ledger, info.get("start_ns", 0), info.get("end_ns", 0)), ledger)
    return ledger


def _next_item(buffer: dict[tuple[int, int], built_batch.BuiltBatch], run: int | None,
               next_seq: int, expected: int | None) -> tuple[int, int] | None:
    """The key of the next item to write: the current run's next sequence number; between
    runs (or when a newer run has started because the current one failed), the SOR of the
    run the supervisor started."""
    if run is not None and (run, next_seq) in buffer:
        return (run, next_seq)
    if expected is not None and expected != run and (expected, 1) in buffer and \
            buffer[(expected, 1)].kind == "SOR":
        return (expected, 1)
    return None
