"""The truth-writing crate's memory: one crate's batches emulated at the beam's defaults, their
truth appended to a truth file as the crate does (``--truth``), its resident memory every 25
spills; ``--no-truth`` emulates the same without writing, for comparison
(``docs/reliability.md``).

    python bench/truth_memory.py --spills 300
    python bench/truth_memory.py --spills 300 --no-truth
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spills", type=int, default=300)
    ap.add_argument("--no-truth", action="store_true", help="emulate without writing")
    args = ap.parse_args()
    from daq.app.bench.machine import description
    from daq.app.bench.soak import resident_mb
    from daq.core.config_schema import load
    from daq.core.detector import Detector
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator
    from emulator.frames_file import EmulatedRunWriter

    detector = Detector.load()
    em = Emulator(load(EmulatorConfig, None, {"run.spills": args.spills}), detector)
    crate = [detector.source_ids[0]]
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        writer = None if args.no_truth else EmulatedRunWriter(
            Path(tmp) / "truth.h5", em, with_samples=False)
        t0 = time.perf_counter()
        for spill in range(1, args.spills + 1):
            plan = em.spill_plan(spill)
            for batch in em.batches(plan, crate):
                if writer is not None:
                    writer.append(batch)
            if writer is not None:
                writer.end_spill(plan)
            if spill % 25 == 0:
                samples.append((spill, round(resident_mb(os.getpid()), 1),
                                round(time.perf_counter() - t0, 1)))
        if writer is not None:
            writer.close()
    print(json.dumps({"machine": description(), "truth": not args.no_truth,
                      "spill_mb_s": samples}))


if __name__ == "__main__":
    main()
