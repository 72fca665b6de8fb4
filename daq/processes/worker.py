"""A reconstruction worker: asks the builder for batches (credit), reconstructs them, forwards
raw and reconstructed data to the writer (lossless) and a sample to the monitor tap (may drop).

A batch is acknowledged to the builder only once ZeroMQ has handed it to the transport, so a
worker killed at any moment loses nothing: the builder re-queues what was not acknowledged.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import zmq

from daq.conditions import reconstruction_in_force
from daq.core import built_batch
from daq.core.detector import Detector
from daq.core.process_shell import ProcessShell
from daq.processes.daq_config import DaqConfig
from daq.reco.blinding import blind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import RecoConfig
from daq.reco.reconstruction import Reconstruction
from daq.reco.simple_extraction import SimpleExtraction


def tap_sample(batch: built_batch.BuiltBatch, reco: np.ndarray, channels: np.ndarray,
               n_waveforms: int, blinded: bool) -> tuple[list, int]:
    """What the monitor needs of a batch, and its number of events: every event's tables and
    a few full waveforms, without the blinded events (the signal box, ``blind``), whose rows
    never leave the worker (``docs/monitor.md``, Blinding)."""
    events, reco, channels, kept = blind(batch.events, reco, channels, blinded)
    header = dict(batch.header, kind="events", t_processed=time.time(), n_events=len(reco))
    step = max(1, len(reco) // max(n_waveforms, 1))
    pick = np.arange(0, len(reco), step)[:n_waveforms]
    header["waveform_rows"] = pick.tolist()
    return built_batch.encode(header, events, batch.samples[kept[pick]], reco,
                              channels), len(reco)


def online_setup(cfg: DaqConfig, detector: Detector, run: int | None = None
                 ) -> tuple[RecoConfig, CalibrationConstants]:
    """What the workers reconstruct run ``run`` with: the configuration's ``[reco]`` and the
    nominal constants, as the conditions database (``NA64DAQ_DB``) updates them for the run.
    The writer records the same in the run file, and the tap fills with it."""
    nominal = CalibrationConstants.nominal(
        detector, cfg.emulator.gains.nominal_adc_per_gev(detector))
    return reconstruction_in_force(detector, run, cfg.reco, nominal)


def reconstruction(cfg: DaqConfig, detector: Detector, run: int | None = None
                   ) -> Reconstruction | SimpleExtraction:
    """What the workers run on run ``run``: ``workers.reconstruction`` with its constants."""
    config, constants = online_setup(cfg, detector, run)
    if cfg.workers.reconstruction == "stub":
        return SimpleExtraction(detector, config, constants)
    return Reconstruction(detector, config, constants)


def main(cfg: DaqConfig, detector: Detector, name: str) -> None:
    reco = reconstruction(cfg, detector)
    run = None  # the constants are those of this run
    reco.warm_up()  # compile before the first heartbeat, not in the middle of a run
    shell = ProcessShell.for_daq(name, cfg)
    ctx = shell.ctx
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, name.encode())
    shell.connect(dealer, cfg.endpoints.builder_work, data=True)
    writer = ctx.socket(zmq.PUSH)
    writer.setsockopt(zmq.SNDHWM, 16)
    # every part zero-copy, so that a batch's tracker is done only once libzmq let it go: by
    # default pyzmq copies parts under 64 kB and their tracker is done at once, so a small
    # batch was acknowledged to the builder before it left, and a worker killed then lost it
    writer.copy_threshold = 0
    shell.connect(writer, cfg.endpoints.writer, data=True)
    tap = ctx.socket(zmq.PUSH)
    tap.setsockopt(zmq.SNDHWM, 4)
    tap.setsockopt(zmq.LINGER, 0)
    shell.connect(tap, cfg.endpoints.tap, data=True)
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    dealer.send_multipart([b"ready", str(cfg.workers.prefetch).encode()])
    unacked: deque[tuple[int, zmq.MessageTracker]] = deque()
    c = {"batches": 0, "events": 0, "rejected_batches": 0, "tap_sent": 0, "tap_dropped": 0,
         "busy_s": 0.0}
    shell.counters = c
    poller = zmq.Poller()
    poller.register(dealer, zmq.POLLIN)
    while not shell.exiting:
        ready = dict(poller.poll(20))
        if dealer in ready:
            shell.worked()
            parts = dealer.recv_multipart(copy=False)
            t0 = time.perf_counter()
            try:
                batch = built_batch.decode(parts, n_ch, n_s)
            except built_batch.BatchError:
                c["rejected_batches"] += 1
                continue
            if batch.header.get("run") != run:  # a new run: its constants
                run = batch.header.get("run")
                reco = reconstruction(cfg, detector, run)
            result, channels = reco(batch.samples, batch.events)
            header = dict(batch.header, worker=name)
            state = getattr(reco, "last_state", None)  # the stub learns nothing
            if state is not None:  # recorded with the batch: reproducible (docs/file-format.md)
                header["reco_state"] = state.record()
            table = channels.table()
            tracker = shell.send(writer, built_batch.encode(header, batch.events, batch.samples,
                                                          result, table),
                                copy=False, track=True)
            unacked.append((batch.seq, tracker))
            sample, n_sample = tap_sample(batch, result, table,
                                          cfg.workers.tap_waveforms_per_batch,
                                          reco.cfg.classes.blinded)
            try:
                tap.send_multipart(sample, zmq.NOBLOCK, copy=False)
                c["tap_sent"] += n_sample
            except zmq.Again:  # a frozen or absent monitor costs nothing but this count
                c["tap_dropped"] += n_sample
            c["batches"] += 1
            c["events"] += len(result)
            c["busy_s"] += time.perf_counter() - t0
        while unacked and unacked[0][1].done:
            seq, _ = unacked.popleft()
            dealer.send_multipart([b"done", str(seq).encode()])
        shell.command()
        shell.beat()
    shell.close()
