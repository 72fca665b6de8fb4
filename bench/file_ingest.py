"""Run-file ingest on one core: the real writer (``daq/run_file/file_writer.py``) with SWMR,
whole blocks, a checksum and a flush per block, fed realistic emulated waveforms.

    python bench/file_ingest.py [--events N] [--repeat R] [--json]

For each compressor: raw-sample MB/s (uncompressed bytes of /raw/samples over the wall time of
appending, flushing and closing; the events, reconstruction and per-channel tables are written
too) and the compression ratio (raw-sample bytes over file size). Pinned to one core, Blosc
with one thread, so the figures are per core.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from daq.app.bench.machine import description as machine
from daq.app.bench.stages import ingest, reconstructed_batches

COMPRESSORS = ("blosc-lz4", "blosc-lz4-bitshuffle", "none", "gzip")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000, help="distinct emulated events")
    ap.add_argument("--repeat", type=int, default=10, help="write them this many times")
    ap.add_argument("--chunk", type=int, default=128, help="events per chunk")
    ap.add_argument("--block", type=int, default=1024, help="events per block (and flush)")
    ap.add_argument("--only", choices=COMPRESSORS, help="this compressor only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    parts = reconstructed_batches(args.events, 128)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for comp in [args.only] if args.only else COMPRESSORS:
            repeat = max(1, args.repeat // 5) if comp == "gzip" else args.repeat
            ingest(parts[:16], comp, 1, Path(tmp))  # warm up (filters loaded, caches)
            results.append(ingest(parts, comp, repeat, Path(tmp), args.chunk, args.block))
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}, indent=1))
        return
    print(f"{machine()}; one core; SWMR, a CRC-32C and a flush per {args.block}-event block, "
          f"{args.chunk} events per chunk")
    print(f"{'compressor':<24}{'events':>10}{'raw MB':>10}{'MB/s':>10}{'samples ratio':>15}"
          f"{'file kB/event':>15}")
    for r in results:
        print(f"{r['compression']:<24}{r['events']:>10}{r['raw_mb']:>10.0f}"
              f"{r['mb_per_s']:>10.0f}{r['sample_ratio']:>15.2f}"
              f"{r['file_mb_per_event_kb']:>15.2f}")


if __name__ == "__main__":
    main()
