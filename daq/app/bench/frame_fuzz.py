"""Fuzzed frames (``daq/core/frame_fuzzing.py``) against the decoder, and against the builder's
socket in a running DAQ: a crate that sends, in the middle of its run, every fuzzed frame the
decoder refuses among its valid ones. The builder must count each with its reason under its
source, build every event complete and balance the ledger, in bounded memory.
``bench/frame_fuzz.py`` is its command line; a short one runs in the test suite."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import zmq

from daq.app.bench.machine import description as machine_description
from daq.app.bench.soak import resident_mb
from daq.core.config_schema import load, to_dict
from daq.core.detector import Detector
from daq.core.frame_fuzzing import fuzz
from daq.core.run_database import RunDatabase
from daq.core.wire_format import FrameError, FrameKind, decode, peek
from daq.processes.daq_config import DaqConfig, ipc_endpoints
from daq.processes.supervisor import Supervisor

#: the crate whose stream carries the fuzzed frames
SICK_SOURCE = 2
#: at most this many fuzzed frames after each of its batches (about 1.5 ms each to draw):
#: more spills when there are more cases
MAX_BETWEEN = 40


def fuzz_decoder(cases: int, detector: Detector) -> dict[str, Any]:
    """Every case through ``decode`` with the map: refusals by reason, the cases that were
    still valid, and the slowest decode. Any exception but ``FrameError`` propagates."""
    refused: Counter = Counter()
    valid = 0
    slowest_s = 0.0

    def consume(parts: list[bytes]) -> None:
        nonlocal valid, slowest_s
        t0 = time.perf_counter()
        try:
            decode(parts, detector)
            valid += 1
        except FrameError as exc:
            refused[exc.reason] += 1
        slowest_s = max(slowest_s, time.perf_counter() - t0)

    t0 = time.perf_counter()
    fuzz(detector, cases, consume)
    return {"cases": sum(refused.values()) + valid, "still_valid": valid,
            "refused": dict(refused.most_common()), "slowest_decode_s": slowest_s,
            "seconds": time.perf_counter() - t0}


def fuzz_running_daq(cases: int, tmp: Path, detector: Detector | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """A DAQ whose crates this process plays (``run.sources = "external"``), from the
    emulator; between its batches, source 2 sends the ``cases`` fuzzed frames the decoder
    refuses. What was sent by reason, what the builder counted, its resident memory before,
    at most and after, and the ledger. ``overrides``: of the DAQ's configuration (dotted
    keys), whose ``emulator`` section the crates run."""
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator

    detector = detector or Detector.load()
    values = ipc_endpoints(tmp)
    values.update({"writer.directory": str(tmp / "runs"), "emulator.run.spills": 2,
                   "emulator.spill.duration_s": 0.5, "tap.end_of_run_png": False,
                   **overrides, "run.sources": "external"})
    cfg = load(DaqConfig, None, values)
    sup = Supervisor(cfg, db=RunDatabase(tmp / "runs.db"), log=lambda m: None)
    sent: Counter = Counter()
    feed = {"still_valid": 0, "error": None, "fuzz_s": 0.0}
    rss: list[float] = []
    ctx = zmq.Context()
    try:
        sup.configure()
        run = sup.start()
        crates = tmp / "crates.json"  # what run control gives its crates
        crates.write_text(json.dumps(to_dict(cfg)["emulator"]))
        em = Emulator(load(EmulatorConfig, crates, {"run.number": run}), detector)
        per_spill = -(-len(em.spill_plan(1).triggers) // em.cfg.run.batch_events)
        spills = max(em.cfg.run.spills, -(-cases // (per_spill * MAX_BETWEEN)))
        em = Emulator(load(EmulatorConfig, crates, {"run.number": run, "run.spills": spills}),
                      detector)
        between = -(-cases // (per_spill * spills)) + 2  # later spills may have fewer batches
        socks = {}
        for sid in detector.source_ids:
            socks[sid] = ctx.socket(zmq.PUSH)
            socks[sid].bind(cfg.source_endpoint(sid))
        builder_pid = sup.procs["builder"].popen.pid
        drawn: queue.Queue = queue.Queue(maxsize=4 * between)

        def draw() -> None:
            t0 = time.perf_counter()
            try:
                fuzz(detector, cases, drawn.put)
            finally:
                feed["fuzz_s"] = time.perf_counter() - t0
                drawn.put(None)

        def send_fuzzed(parts: list[bytes]) -> None:
            try:
                decode(parts, detector)
                feed["still_valid"] += 1  # a valid frame would be data: not sent
                return
            except FrameError as exc:
                sent[exc.reason] += 1
            socks[SICK_SOURCE].send_multipart(parts)

        def play() -> None:
            """The crates' frames; once every crate has sent a batch, the next ``between``
            fuzzed frames from the sick crate (one thread plays every crate: drawing them
            while a crate's batch is still to come would hold that crate back for longer
            than ``builder.timeout_s``, and its events would rightly go out incomplete)."""
            last = detector.source_ids[-1]
            try:
                fuzzing = True
                for _, sid, parts in em.frames():
                    socks[sid].send_multipart(parts)
                    if sid != last or not fuzzing or peek(parts)[0] is not FrameKind.EVENTS:
                        continue
                    for _ in range(between):
                        item = drawn.get()
                        if item is None:
                            fuzzing = False
                            break
                        send_fuzzed(item)
            except Exception as exc:  # noqa: BLE001 - said in the result, not lost in a thread
                feed["error"] = repr(exc)

        threading.Thread(target=draw, daemon=True).start()
        thread = threading.Thread(target=play, daemon=True)
        rss.append(resident_mb(builder_pid) or 0.0)
        thread.start()
        while sup.state == "running":
            sup.poll(0.2)
            rss.append(resident_mb(builder_pid) or 0.0)
        thread.join(10)
        per_source = sup.ledger["stages"]["builder_per_source"]
        result = {"machine": machine_description(), "cases": cases, "spills": spills,
                  "sent_in_all": sum(sent.values()),
                  "still_valid": feed["still_valid"], "feed_error": feed["error"],
                  "sent": dict(sent.most_common()),
                  "builder_counted": per_source[str(SICK_SOURCE)]["rejected"],
                  "builder_per_source": {k: {n: v for n, v in st.items() if n != "rejected"}
                                         for k, st in per_source.items()},
                  "fuzz_s": feed["fuzz_s"], "builder_rss_mb": {
                      "before": rss[0], "max": max(rss), "end": rss[-1]},
                  "outcome": sup.outcome, "error": sup.error,
                  "ledger": {k: sup.ledger.get(k) for k in (
                      "triggered", "written_complete", "written_incomplete", "rejected",
                      "unaccounted", "balanced")}}
    finally:
        sup.close()
        ctx.destroy(linger=0)
    return result
