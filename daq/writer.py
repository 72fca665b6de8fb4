"""The file writer: receives reconstructed batches (workers) and run/spill markers (builder),
puts them back in the builder's order, writes them, and closes each spill's and the run's ledger.

The run file here is the interim one (events, raw samples, quick reconstruction, ledgers);
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
from daq.component import Component
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

    def _growing(self, name, shape, dtype, chunk):
        return self.f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape),
                                     dtype=dtype, chunks=(chunk, *shape))

    def append(self, batch: built_batch.BuiltBatch) -> None:
        n0, n = len(self.events), len(batch.events)
        for ds, values in ((self.events, batch.events), (self.samples, batch.samples),
                           (self.reco, batch.reco)):
            ds.resize(n0 + n, axis=0)
            ds[n0:] = values

    def end_spill(self, ledger: dict[str, Any]) -> None:
        n = len(self.spills)
        self.spills.resize(n + 1, axis=0)
        self.spills[n] = json.dumps(ledger)
        self.f.flush()

    def close(self, ledger: dict[str, Any] | None) -> None:
        if ledger is not None:
            self.f.attrs["ledger"] = json.dumps(ledger)
        self.f.close()


def main(cfg: DaqConfig, detector: Detector, name: str = "writer",
         config_dict: dict[str, Any] | None = None) -> None:
    comp = Component(name, cfg)
    pull = comp.ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 8)
    pull.bind(cfg.endpoints.writer)
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    buffer: dict[int, built_batch.BuiltBatch] = {}
    next_seq = 1
    out: RunFileWriter | None = None
    run: int | None = None
    spill_counts = {"complete": 0, "incomplete": 0}
    spills: list[dict[str, Any]] = []
    c: dict[str, Any] = {"run": None, "written_events": 0, "written_bytes": 0,
                         "duplicates_suppressed": 0, "malformed": 0, "write_errors": 0,
                         "not_written": 0, "next_seq": 1, "waiting": 0, "run_done": None,
                         "ledger": None, "spill_ledger": None}
    comp.counters = c
    last_flush = time.monotonic()
    while not comp.exiting:
        if pull.poll(50):
            for _ in range(32):
                try:
                    parts = pull.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                try:
                    batch = built_batch.decode(parts, n_ch, n_s)
                except built_batch.BatchError:
                    c["malformed"] += 1
                    continue
                if batch.kind == "SOR":  # a new run: sequence numbers restart
                    buffer = {k: v for k, v in buffer.items() if v.header.get("run") ==
                              batch.header["run"]}
                    next_seq = 1
                if batch.seq < next_seq or batch.seq in buffer:
                    c["duplicates_suppressed"] += 1  # re-queued after its worker died
                    continue
                buffer[batch.seq] = batch
        while next_seq in buffer:
            batch = buffer.pop(next_seq)
            next_seq += 1
            if batch.kind == "SOR":
                run = batch.header["run"]
                path = Path(cfg.writer.directory) / f"run_{run:06d}.h5"
                out = RunFileWriter(path, run, detector, config_dict or {},
                                    cfg.builder.batch_events)
                spills, spill_counts = [], {"complete": 0, "incomplete": 0}
                c.update(run=run, run_done=None, ledger=None, file=str(path), written_events=0)
            elif batch.kind == "events":
                n = len(batch.events)
                complete = int(batch.events["complete"].sum())
                try:
                    if out is None:
                        raise OSError("no run file open (events before the start of run)")
                    out.append(batch)
                except OSError:
                    c["write_errors"] += 1
                    c["not_written"] += n
                    continue
                spill_counts["complete"] += complete
                spill_counts["incomplete"] += n - complete
                c["written_events"] += n
                c["written_bytes"] += batch.samples.nbytes
            elif batch.kind == "EOS":
                ledger = spill_ledger(batch.header["spill"], batch.header["info"], spill_counts,
                                      c["not_written"])
                spills.append(ledger)
                c["spill_ledger"] = ledger
                spill_counts = {"complete": 0, "incomplete": 0}
                c["not_written"] = 0
                if out is not None:
                    out.end_spill(ledger)
            elif batch.kind == "EOR":
                ledger = sum_ledgers(spills, batch.header["info"])
                c.update(ledger=ledger, run_done=run)
                if out is not None:
                    out.close(ledger)
                    out = None
        c["next_seq"], c["waiting"] = next_seq, len(buffer)
        if out is not None and time.monotonic() - last_flush > cfg.writer.flush_s:
            out.f.flush()
            last_flush = time.monotonic()
        comp.command()
        comp.beat()
    if out is not None:
        out.close(None)
    comp.close()
