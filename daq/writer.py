"""The file writer: receives reconstructed batches (workers) and run/spill markers (builder),
puts them back in the builder's order, writes them, and closes each spill's and the run's ledger.

The run file here is the interim one (events, raw samples, reconstruction, ledgers);
the full run-file format with SWMR and checksums is issue 5's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import zmq

from daq import built_batch
from daq.component import Component, drain
from daq.daq_config import DaqConfig
from daq.detector import Detector
from daq.ledger import spill_ledger, sum_ledgers


class RunFileWriter:
    """One run's HDF5 file, appended in blocks."""

    def __init__(self, path: Path, run: int, detector: Detector, config: dict[str, Any],
                 chunk: int):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = h5py.File(path, "w", libver="latest")
        self.f.attrs.update(format="na64daq-run-interim", format_version=0, run=run,
                            config=json.dumps(config), detector_map=detector.path)
        n_ch, n_s = detector.n_channels, detector.samples_per_channel
        self.events = self._growing("events", (), built_batch.BUILT_DTYPE, chunk)
        self.samples = self._growing("samples", (n_ch, n_s), np.uint16, chunk)
        self.samples.attrs["units"] = "ADC counts"
        self.reco = self._growing("reco", (), built_batch.RECO_DTYPE, chunk)
        self.reco.attrs["units"] = "GeV"
        self.spills = self._growing("spill_ledger", (), h5py.string_dtype(), 16)
        self.block_events = 8 * chunk
        self.pending: list[built_batch.BuiltBatch] = []
        self.n_pending = 0
        self.counts = {"complete": 0, "incomplete": 0, "not_written": 0}  # this spill
        self.written_events = 0  # this run
        self.written_bytes = 0

    def _growing(self, name, shape, dtype, chunk):
        return self.f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape),
                                     dtype=dtype, chunks=(chunk, *shape))

    def append(self, batch: built_batch.BuiltBatch) -> None:
        """Queue a batch; it is written with the next block (HDF5 is fastest in big blocks)."""
        self.pending.append(batch)
        self.n_pending += len(batch.events)
        if self.n_pending >= self.block_events:
            self.write_pending()

    def write_pending(self) -> None:
        """Write the queued batches as one block; count them written, or not written if the
        block fails (disk full, ...), so the spill's ledger says exactly what is in the file."""
        if not self.pending:
            return
        batches, self.pending, n = self.pending, [], self.n_pending
        self.n_pending = 0
        events = np.concatenate([b.events for b in batches])
        try:
            n0 = len(self.events)
            for ds, values in ((self.events, events),
                               (self.samples, np.concatenate([b.samples for b in batches])),
                               (self.reco, np.concatenate([b.reco for b in batches]))):
                ds.resize(n0 + n, axis=0)
                ds[n0:] = values
        except (OSError, ValueError):
            self.counts["not_written"] += n
            raise OSError(f"{self.path}: could not write {n} events") from None
        complete = int(events["complete"].sum())
        self.written_events += n
        self.counts["complete"] += complete
        self.counts["incomplete"] += n - complete
        self.written_bytes += sum(b.samples.nbytes for b in batches)

    def flush(self) -> None:
        self.write_pending()
        self.f.flush()

    def end_spill(self, spill: int, eos_info: dict[str, Any]) -> dict[str, Any]:
        """Write what is queued, then the spill's ledger; return it."""
        try:
            self.write_pending()
        except OSError:
            pass  # counted as not written: the ledger says so
        ledger = spill_ledger(spill, eos_info, self.counts)
        self.counts = {"complete": 0, "incomplete": 0, "not_written": 0}
        try:
            n = len(self.spills)
            self.spills.resize(n + 1, axis=0)
            self.spills[n] = json.dumps(ledger)
            self.f.flush()
        except (OSError, ValueError):
            pass  # the ledger still reaches the run record through the heartbeat
        return ledger

    def close(self, ledger: dict[str, Any] | None) -> None:
        self.write_pending()
        if ledger is not None:
            self.f.attrs["ledger"] = json.dumps(ledger)
        self.f.close()


def main(cfg: DaqConfig, detector: Detector, name: str = "writer",
         config_dict: dict[str, Any] | None = None) -> None:
    comp = Component(name, cfg)
    pull = comp.ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 32)
    pull.bind(cfg.endpoints.writer)
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    buffer: dict[tuple[int, int], built_batch.BuiltBatch] = {}  # (run, seq) -> item
    next_seq = 1
    out: RunFileWriter | None = None
    run: int | None = None  # the run being written; None between runs
    spills: list[dict[str, Any]] = []
    c: dict[str, Any] = {"run": None, "written_events": 0, "written_bytes": 0,
                         "duplicates_suppressed": 0, "malformed": 0, "write_errors": 0,
                         "orphan_events": 0,
                         "next_seq": 1, "waiting": 0, "run_done": None,
                         "ledger": None, "spill_ledger": None}
    comp.counters = c
    last_flush = time.monotonic()
    while not comp.exiting:
        if pull.poll(50):
            for batch in built_batch.decode_all(drain(pull, 32), n_ch, n_s, c):
                key = (int(batch.header.get("run") or 0), batch.seq)
                written_already = key[0] == run and key[1] < next_seq
                if written_already or key in buffer or (run is not None and key[0] < run):
                    c["duplicates_suppressed"] += 1  # re-queued after its worker died
                    continue
                buffer[key] = batch
        while True:
            key = _next_item(buffer, run, next_seq)
            if key is None:
                break
            batch = buffer.pop(key)
            next_seq = key[1] + 1
            if batch.kind == "SOR":
                if out is not None:  # the last run never ended (it failed): close its file
                    out.close(None)
                buffer = {k: v for k, v in buffer.items() if k[0] >= key[0]}
                run = batch.header["run"]
                path = Path(cfg.writer.directory) / f"run_{run:06d}.h5"
                out = RunFileWriter(path, run, detector, config_dict or {},
                                    cfg.builder.batch_events)
                spills = []
                c.update(run=run, run_done=None, ledger=None, file=str(path), written_events=0)
            elif batch.kind == "events":
                try:
                    if out is None:
                        raise OSError("no run file open (events before the start of run)")
                    out.append(batch)
                except OSError:  # counted by the file writer, or an orphan without a run
                    c["write_errors"] += 1
                    if out is None:
                        c["orphan_events"] += len(batch.events)
            elif batch.kind == "EOS":
                if out is None:
                    continue
                ledger = out.end_spill(batch.header["spill"], batch.header["info"])
                spills.append(ledger)
                c["spill_ledger"] = ledger
            elif batch.kind == "EOR":
                ledger = sum_ledgers(spills, batch.header["info"])
                c.update(ledger=ledger, run_done=run)
                if out is not None:
                    try:
                        out.close(ledger)
                    except OSError:
                        c["write_errors"] += 1
                    out = None
                run, next_seq = None, 1
            if out is not None:
                c["written_events"] = out.written_events
                c["written_bytes"] = out.written_bytes
        c["next_seq"], c["waiting"] = next_seq, len(buffer)
        if out is not None and time.monotonic() - last_flush > cfg.writer.flush_s:
            try:
                out.flush()
            except OSError:
                c["write_errors"] += 1
            last_flush = time.monotonic()
        comp.command()
        comp.beat()
    if out is not None:
        out.close(None)
    comp.close()


def _next_item(buffer: dict[tuple[int, int], built_batch.BuiltBatch], run: int | None,
               next_seq: int) -> tuple[int, int] | None:
    """The key of the next item to write: the current run's next sequence number; between
    runs (or when a newer run has started because the current one failed), a newer SOR."""
    if run is not None and (run, next_seq) in buffer:
        return (run, next_seq)
    newer = [k for k, v in buffer.items() if v.kind == "SOR" and (run is None or k[0] > run)]
    return min(newer) if newer else None
