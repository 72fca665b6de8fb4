"""Emulator throughput on one core: waveform generation and replay from memory.

    python bench/emulator_throughput.py [--events N] [--json]

Generation: all channels of the map, 32 samples, pileup at 5e6 e-/spill, frames encoded (wire
format with checksums). Replay: frames re-encoded from an emulated run held in memory, both into
a null sink and through a real ZeroMQ socket to a consumer process that decodes every frame.
The process is pinned to one core so that the figures are per core.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import zmq

from daq.app.bench.machine import description as machine_description
from daq.app.bench.stages import emulator_for, generation
from daq.core.detector import Detector
from daq.core.wire_format import FrameKind, decode
from emulator.frames_file import read_run, write_run
from emulator.replay import Replay


def _consumer(endpoint: str, n_sources: int, ready) -> None:
    if hasattr(os, "sched_setaffinity"):  # the other core: the producer keeps its own
        os.sched_setaffinity(0, {max(range(os.cpu_count() or 1))})
    det = Detector.load()
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.connect(endpoint)
    ready.set()
    eors = 0
    while eors < n_sources:
        f = decode(s.recv_multipart(copy=False), det)
        eors += f.kind is FrameKind.EOR
    s.close()
    ctx.term()


def bench_replay(n_events: int) -> list[dict]:
    em = emulator_for(n_events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.h5"
        write_run(em, path)
        run = read_run(path, truth=False)
    replay = Replay(run, em.detector)
    n = replay.n_events
    for _ in replay.frames():  # warm up
        pass
    t0 = time.perf_counter()
    for _ in replay.frames():
        pass
    dt_null = time.perf_counter() - t0

    endpoint = "ipc://" + tempfile.mktemp(prefix="na64daq-bench-")
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 64)
    push.bind(endpoint)
    ready = mp.Event()
    consumer = mp.Process(target=_consumer, args=(endpoint, len(run.samples), ready))
    consumer.start()
    ready.wait()
    time.sleep(0.2)
    t0 = time.perf_counter()
    for _, _, parts in replay.frames():
        push.send_multipart(parts, copy=False)
    consumer.join()
    dt_zmq = time.perf_counter() - t0
    push.close()
    ctx.term()
    mb = sum(s.nbytes for s in run.samples.values()) / 1e6
    return [
        {"name": "replay_to_null", "events": n, "seconds": dt_null, "events_per_s": n / dt_null,
         "mb_per_s": mb / dt_null},
        {"name": "replay_over_zmq_ipc", "events": n, "seconds": dt_zmq,
         "events_per_s": n / dt_zmq, "mb_per_s": mb / dt_zmq,
         "note": "producer pinned to one core; the decoding consumer is a second process"},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50000, help="events per measured spill")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    results = [generation(args.events)] + bench_replay(args.events)
    out = {"machine": machine_description(), "results": results}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"machine: {out['machine']}")
    for r in results:
        extra = f", {r['mb_per_s']:.0f} MB/s of samples" if "mb_per_s" in r else ""
        if "pileup_fraction" in r:
            extra = f", {100 * r['pileup_fraction']:.0f} % with pileup at 5e6 e-/spill"
        print(f"{r['name']:<22} {r['events_per_s']:>12,.0f} events/s "
              f"({r['events']} events in {r['seconds']:.2f} s{extra})")


if __name__ == "__main__":
    main()
