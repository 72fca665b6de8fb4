"""The monitor's numbers (``na64daq bench monitor`` prints the same): the tap's histogram
filling rate on one core, the snapshot's size and cost, each panel's redraw time, and a live
run (a tap process fed at --rate events/s, watched by an offscreen window for --seconds):
redraw times while the data arrive, push to screen latency, the window's memory.

    python bench/monitor_speed.py [--seconds 600] [--rate 50000] [--json]
"""

import argparse
import json

from daq.app.bench.monitor import measure, print_result

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the live part")
    ap.add_argument("--rate", type=float, default=50_000.0, help="events/s into the tap")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = measure(live_s=args.seconds, rate_hz=args.rate)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_result(result)
