"""``na64daq bench``: the performance record: every stage's throughput."""

from __future__ import annotations

import argparse
import json
import sys

from daq.core.cli_arguments import COUNT, POSITIVE
from daq.core.config_schema import ConfigError


def add_arguments(sub) -> None:
    p = sub.add_parser("bench", help="the performance record: every stage's throughput",
                       description="With no argument: the emulator, decoder, builder, the "
                       "reconstruction against dspeed and scipy, the writer, the whole chain "
                       "(stub and full) against the bare ZeroMQ ceiling, and the monitor, as "
                       "one table (about 6 minutes). reco or monitor: that part alone, in "
                       "detail.")
    p.add_argument("what", nargs="?", choices=("all", "reco", "monitor"), default="all",
                   help="all (default), reco: the reconstruction against dspeed and scipy; "
                   "monitor: the tap's filling and the redraws")
    p.add_argument("--seconds", type=POSITIVE, default=30.0,
                   help="all: length of each sustained end-to-end run (default 30 s)")
    p.add_argument("--events", type=COUNT, default=20000, help="events timed (default 20000)")
    p.add_argument("--scipy-events", type=COUNT, default=1000,
                   help="events for the (slow) scipy loop (default 1000)")
    p.add_argument("--intensity", type=POSITIVE, default=5e6, help="e-/spill (default 5e6)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from daq.app.bench.reconstruction import compare

    if args.what == "all":
        from daq.app.bench import run_all, table

        result = run_all(args.seconds, progress=lambda name: print(
            f"measuring: {name}", file=sys.stderr, flush=True))
        print(json.dumps(result, indent=1) if args.json else table(result))
        return 0
    if args.what == "monitor":
        from daq.app.bench.monitor import measure, print_result

        result = measure()
        print(json.dumps(result, indent=1)) if args.json else print_result(result)
        return 0

    if args.events < 1 or args.scipy_events < 1:
        raise ConfigError("--events and --scipy-events must be at least 1")
    result = compare(args.events, args.scipy_events, intensity=args.intensity)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['events']} emulated events at {result['intensity_per_spill']:.3g} e-/spill, "
          f"one core; first-event latency (JIT cache load) {result['first_event_latency_s']:.2f} s")
    print(f"{'implementation':<20}{'events/s':>12}{'ours faster by':>16}{'E_ECAL vs ours':>16}")
    for r in result["results"]:
        if r["events_per_s"] is None:
            print(f"{r['name']:<20}{r['note']}")
            continue
        print(f"{r['name']:<20}{r['events_per_s']:>12,.0f}{r['ours_faster_by']:>15.1f}x"
              f"{r['median_e_ecal_difference_to_ours']:>15.1%}")
    return 0
