"""End-to-end DAQ throughput: replayed waveforms -> ZeroMQ -> builder -> workers (the
reconstruction, or its stub) -> writer (HDF5), with the monitor tap, for a sustained run.

    python bench/daq_throughput.py [--seconds 60] [--workers 2] [--stub] [--json]

Reports events/s and MB/s written, CPU per stage (cores), monitor latency, the ledger, and the
ceiling: bare ZeroMQ loopback throughput for the same frames, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from daq.app.bench.pipeline import measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the measured run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--events", type=int, default=40000, help="events in the replayed spill")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a DAQ configuration override, e.g. workers.prefetch=4 (VALUE as TOML)")
    ap.add_argument("--source-batch", type=int, default=64,
                    help="events per source frame in the replayed file (emulator run.batch_events)")
    ap.add_argument("--tcp", action="store_true",
                    help="the internal links on the default configuration's tcp loopback ports "
                    "instead of ipc paths")
    ap.add_argument("--stub", action="store_true",
                    help="workers run the reconstruction stub (daq/reco/simple_extraction.py): "
                    "the data path without the reconstruction's cost")
    ap.add_argument("--freeze-tap", action="store_true",
                    help="freeze the monitor tap for the whole run (a stuck viewer)")
    ap.add_argument("--date", action="store_true",
                    help="replay the same run as NA64's raw data (a DATE file)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="na64daq-bench-") as tmp:
        result = measure(args, Path(tmp))  # the run files (about 10 GB a minute) go with it
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"machine: {result['machine']}; {result['seconds']:.0f} s sustained, "
          f"{args.workers} workers" + (" (reconstruction stub)" if args.stub else "")
          + ("; monitor tap FROZEN" if args.freeze_tap else ""))
    print(f"written: {result['events_per_s']:,.0f} events/s, {result['mb_per_s']:.0f} MB/s "
          f"of raw samples")
    ceiling = result["zmq_ceiling"]
    print(f"ceiling (bare ZeroMQ tcp loopback, same frames): {ceiling['events_per_s']:,.0f} "
          f"events/s, {ceiling['mb_per_s']:.0f} MB/s")
    latency = result["latency_p99_s"]
    print(f"monitor tap latency p99: {latency * 1000:.0f} ms" if latency else "no tap latency")
    print("CPU (cores) per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                result["cpu_cores_per_stage"].items()))
    print("ledger: " + json.dumps(result["ledger"]))


if __name__ == "__main__":
    main()
