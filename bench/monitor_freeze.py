"""Does the monitor's window slow the DAQ? Interleaved sustained runs (bench/daq_throughput.py)
with no window, a window watching, a window frozen (SIGSTOP: a GUI stuck in a redraw) and a
window killed mid-run; events/s written per condition, mean and spread over the repeats.

    python bench/monitor_freeze.py [--seconds 15] [--repeats 2] [--json]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from daq.app.bench.machine import description as machine
from daq.app.bench.pipeline import measure

CONDITIONS = ("no window", "window", "window frozen", "window killed")


def _window(sup) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                             sup.cfg.endpoints.tap_publish],
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(condition: str, seconds: float, workers: int) -> float:
    args = argparse.Namespace(seconds=seconds, workers=workers, events=40000, set=[],
                              source_batch=64, tcp=False, stub=False, freeze_tap=False)
    windows = []

    def on_start(sup):
        if condition == "no window":
            return
        w = _window(sup)
        windows.append(w)
        time.sleep(3.0)  # it connects and draws
        if condition == "window frozen":
            w.send_signal(signal.SIGSTOP)
        elif condition == "window killed":
            w.kill()

    try:
        with tempfile.TemporaryDirectory(prefix="na64daq-bench-") as tmp:
            result = measure(args, Path(tmp), on_start=on_start, ceiling=False)
    finally:
        for w in windows:
            w.kill()
            w.wait(10)
    assert result["ledger"]["balanced"], result["ledger"]
    return result["events_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rates: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    for _ in range(a.repeats):
        for c in CONDITIONS:  # interleaved: drifts of the machine hit every condition
            rates[c].append(run(c, a.seconds, a.workers))
    out = {"machine": machine(), "seconds": a.seconds, "repeats": a.repeats,
           "events_per_s": {c: {"mean": float(np.mean(v)), "std": float(np.std(v)),
                                "runs": v} for c, v in rates.items()}}
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['machine']}; {a.repeats} x {a.seconds:.0f} s per condition, interleaved")
    for c, r in out["events_per_s"].items():
        print(f"  {c:<14} {r['mean']:9,.0f} events/s  (spread {r['std']:,.0f}; runs "
              + ", ".join(f"{x:,.0f}" for x in r["runs"]) + ")")


if __name__ == "__main__":
    main()
