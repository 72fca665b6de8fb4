"""One core's throughput of each stage on its own, on the same emulated spill at 5e6 e-/spill:
the emulator's generation, the wire-format decoder, the event builder's assembly, and the run
file writer (``bench/emulator_throughput.py`` and ``bench/file_ingest.py`` are their command
lines with more options)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("BLOSC_NTHREADS", "1")  # one core: no Blosc threads

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402, F401
import numpy as np  # noqa: E402

from daq.building.assembler import EventAssembler, warm_up  # noqa: E402
from daq.core.config_schema import load  # noqa: E402
from daq.core.detector import Detector  # noqa: E402
from daq.core.wire_format import FrameKind, decode  # noqa: E402
from daq.processes.daq_config import DaqConfig  # noqa: E402
from daq.reco.reconstruction import Reconstruction  # noqa: E402
from daq.run_file import layout as L  # noqa: E402
from daq.run_file.file_writer import FileHeader, RunFileWriter, WriterSettings  # noqa: E402
from emulator.config import EmulatorConfig  # noqa: E402
from emulator.emulator import Batch, Emulator  # noqa: E402

SPILL_S = 4.8


def trigger_mix(n_events: float) -> dict[str, float]:
    """The emulator's trigger rates for a spill of about ``n_events`` triggers, every
    benchmark's mix: 90 % physics, 7 % calibration, 3 % random."""
    rate = n_events / SPILL_S
    return {"trigger.physics_rate_hz": 0.9 * rate, "trigger.calibration_rate_hz": 0.07 * rate,
            "trigger.random_rate_hz": 0.03 * rate}


def emulator_for(n_events: int, spills: int = 1) -> Emulator:
    """An emulator whose spill holds about ``n_events`` triggers at 5e6 e-/spill."""
    cfg = load(EmulatorConfig, None, {**trigger_mix(n_events), "beam.intensity_per_spill": 5e6,
                                      "run.spills": spills})
    return Emulator(cfg, Detector.load())


def generation(n_events: int) -> dict[str, Any]:
    """Waveforms of every channel with pileup, encoded into frames (checksums included)."""
    em = emulator_for(n_events)
    for _ in em.frames(spills=[99]):  # compile / warm up on another spill
        pass
    plan = em.spill_plan(1)
    t0 = time.perf_counter()
    n = with_pileup = 0
    for item in em.stream(spills=[1]):
        if isinstance(item, Batch):
            n += len(item.events)
            with_pileup += int((item.truth["n_pileup_window"] > 0).sum())
    dt = time.perf_counter() - t0
    return {"name": "emulator", "events": n, "seconds": dt, "events_per_s": n / dt,
            "channels": em.detector.n_channels, "intensity_per_spill": 5e6,
            "pileup_fraction": with_pileup / n, "triggers_in_spill": len(plan.triggers)}


def decoding_and_building(n_events: int) -> list[dict[str, Any]]:
    """The builder's two jobs apart, on one spill's frames of every source: decoding and
    validating the frames, then assembling events from the decoded fragments (what
    ``EventAssembler`` does in the builder process, without its sockets)."""
    em = emulator_for(n_events)
    detector = em.detector
    frames = [(sid, parts) for _, sid, parts in em.frames()]
    b = load(DaqConfig, None, {}).builder
    warm_up(detector)
    for _, parts in frames[:50]:
        decode(parts, detector)
    t0 = time.perf_counter()
    decoded = [(sid, decode(parts, detector)) for sid, parts in frames]
    dt_decode = time.perf_counter() - t0
    n = sum(f.n_events for _, f in decoded if f.kind is FrameKind.EVENTS) // len(
        detector.source_ids)
    run = next(f.run for _, f in decoded if f.kind is FrameKind.SOR)
    asm = EventAssembler(detector, b.timeout_s, b.max_pending_events, b.max_event_number,
                         b.batch_events, b.spill_window)
    asm.expect(run)
    built = 0
    t0 = time.perf_counter()
    for k, (sid, frame) in enumerate(decoded):
        asm.add(sid, frame, t0)
        if k % 16 == 0:
            asm.collect(t0)
        while asm.out:
            kind, header, _, _ = asm.out.popleft()
            built += header["n_events"] if kind == "events" else 0
    dt_build = time.perf_counter() - t0
    mb = sum(sum(memoryview(p).nbytes for p in parts) for _, parts in frames) / 1e6
    return [{"name": "decoder", "events": n, "seconds": dt_decode, "events_per_s": n / dt_decode,
             "mb_per_s": mb / dt_decode, "frames": len(frames)},
            {"name": "builder", "events": built, "seconds": dt_build,
             "events_per_s": built / dt_build, "note": "assembly only, frames decoded before"}]


def reconstructed_batches(n_events: int, batch: int) -> list[tuple[np.ndarray, ...]]:
    """Emulated events at 5e6 e-/spill, reconstructed, as the workers hand them over: (events,
    samples, reco, channels, the batch's ``/reco/state`` row)."""
    det = Detector.load()
    em = emulator_for(n_events)
    reco = Reconstruction(det)
    out = []
    for b in em.batches(em.spill_plan(1)):
        samples = b.samples_in_map_order(det)
        events = b.built_events()
        for i in range(0, len(events), batch):
            result, channels = reco(samples[i:i + batch], events[i:i + batch])
            state = L.state_row(det.n_channels, len(result), reco.last_state.record())
            out.append((events[i:i + batch], samples[i:i + batch], result, channels.table(),
                        state))
    return out


def ingest(parts, compression: str, repeat: int, directory: Path, chunk: int = 128,
           block: int = 1024) -> dict[str, Any]:
    """The real writer with SWMR, a checksum and a flush per block: raw-sample MB/s and the
    samples' compression ratio."""
    det = Detector.load()
    out = RunFileWriter(directory, FileHeader(1, det, {}), WriterSettings(
        chunk_events=chunk, block_events=block, compression=compression))
    t0 = time.perf_counter()
    for _ in range(repeat):
        for p in parts:
            out.append(*p)
    out.close({"ledger": {}})
    dt = time.perf_counter() - t0
    raw = out.written_bytes
    size = out.path.stat().st_size
    with h5py.File(out.path, "r") as f:
        stored = f[L.SAMPLES].id.get_storage_size()
    out.path.unlink()
    return {"compression": compression, "events": out.written_events, "raw_mb": raw / 1e6,
            "seconds": dt, "events_per_s": out.written_events / dt, "mb_per_s": raw / 1e6 / dt,
            "sample_ratio": raw / stored, "file_mb_per_event_kb": size / out.written_events / 1e3}


def writing(n_events: int, directory: Path, repeat: int = 3) -> dict[str, Any]:
    """The writer with the DAQ's default compressor."""
    compression = load(DaqConfig, None, {}).writer.compression
    parts = reconstructed_batches(n_events, 128)
    ingest(parts[:16], compression, 1, directory)  # warm up (filters loaded, caches)
    return {"name": "writer", **ingest(parts, compression, repeat, directory)}
