"""The event builder's assembly alone, for its memory: the emulator's frames of every crate at
the beam's defaults through ``EventAssembler`` in one process (no sockets), the resident
memory every 20 spills, and tracemalloc's largest growths from spill 10 to the end
(``docs/reliability.md``).

    python bench/builder_memory.py --spills 150
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spills", type=int, default=150)
    args = ap.parse_args()
    from daq.app.bench.machine import description
    from daq.app.bench.soak import resident_mb
    from daq.building.assembler import EventAssembler
    from daq.core.config_schema import load
    from daq.core.detector import Detector
    from daq.core.wire_format import FrameKind, decode
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator

    detector = Detector.load()
    em = Emulator(load(EmulatorConfig, None, {"run.spills": args.spills}), detector)
    asm = EventAssembler(detector, timeout_s=1.0, max_pending=20000,
                         max_event_number=10_000_000, batch_events=128)
    asm.expect(em.cfg.run.number)
    tracemalloc.start(10)
    first, samples, t0 = None, [], time.perf_counter()
    for _, sid, parts in em.frames():
        frame = decode(parts)
        asm.add(sid, frame, now=time.monotonic())
        asm.collect(time.monotonic())
        asm.out.clear()
        if frame.kind is FrameKind.EOS and sid == detector.source_ids[-1]:
            if frame.spill == 10:
                first = tracemalloc.take_snapshot()
            if frame.spill % 20 == 0:
                samples.append((frame.spill, round(resident_mb(os.getpid()), 1),
                                round(time.perf_counter() - t0, 1)))
    growth = [str(s) for s in tracemalloc.take_snapshot().compare_to(first, "lineno")[:5]]
    print(json.dumps({"machine": description(), "spill_mb_s": samples,
                      "largest_growths": growth}, indent=1))


if __name__ == "__main__":
    main()
