"""The DAQ as the crew runs it (docs/run-control.md, "The crew's contract"): beam-paced
multi-spill runs at several paces, and stops at random moments of them, each with its outcome,
ledger, incomplete events, the stop's cut and the run file's verification.

    python bench/crew_operations.py [--paces 1 2 4] [--spills 3] [--stops 6] [--json]

Every DAQ process runs on this machine, on private ipc endpoints and a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from daq.core.config_schema import load
from daq.core.run_database import RunDatabase
from daq.processes.daq_config import DaqConfig, ipc_endpoints
from daq.processes.supervisor import Supervisor
from daq.run_file.reader import RunReader
from daq.run_file.verification import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daq.app.bench.machine import description as machine  # noqa: E402


def one_run(directory: Path, pace: float, spills: int, stop_after_s: float | None) -> dict:
    """A beam-paced run of ``spills`` spills (the SPS's 4.8 s spills and 15 s pauses, ``pace``
    times faster), stopped ``stop_after_s`` after the crates' trigger was enabled (None: to
    its end)."""
    directory.mkdir(parents=True)
    values = ipc_endpoints(directory)
    values.update({"writer.directory": str(directory / "runs"),
                   "emulator.run.spills": spills, "emulator.spill.time_compressed": False,
                   "emulator.spill.pace": pace})
    sup = Supervisor(load(DaqConfig, None, values), db=RunDatabase(directory / "runs.db"),
                     log=lambda m: None)
    try:
        sup.configure()
        sup.start()
        enabled = None
        while sup.state == "running":
            sup.poll(0.02)
            if enabled is None and sup.trigger_enabled:
                enabled = time.monotonic()
            if stop_after_s is not None and enabled is not None and \
                    time.monotonic() - enabled >= stop_after_s:
                sup.stop()
        ledger = sup.ledger or {}
        with RunReader(sup.procs["writer"].counters["file"]) as f:
            report = verify(f)
            closed = f.run_end() is not None
        return {"pace": pace, "stop_after_s": stop_after_s, "outcome": sup.outcome,
                "error": sup.error, "spills": ledger.get("spills"),
                "triggered": ledger.get("triggered"),
                "written_complete": ledger.get("written_complete"),
                "written_incomplete": ledger.get("written_incomplete"),
                "cut_by_stop": ledger.get("cut_by_stop"),
                "not_sent": sum(s.get("not_sent", 0) for s in
                                ledger.get("stages", {}).get("sources", {}).values()),
                "balanced": ledger.get("balanced"), "file_verifies": report["ok"],
                "file_closed": closed}
    finally:
        sup.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paces", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--spills", type=int, default=3)
    p.add_argument("--stops", type=int, default=6, help="runs stopped at random moments, "
                   "at the fastest pace")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, pace in enumerate(args.paces):
            rows.append(one_run(Path(tmp) / f"full{k}", pace, args.spills, None))
        pace = max(args.paces)
        length_s = (args.spills * 4.8 + (args.spills - 1) * 15.0) / pace
        for k in range(args.stops):
            rows.append(one_run(Path(tmp) / f"stop{k}", pace, args.spills,
                                rng.uniform(0.0, length_s)))
    if args.json:
        print(json.dumps({"machine": machine(), "runs": rows}, indent=1))
        return 0
    print(f"machine: {machine()}")
    print(f"{'pace':>5}{'stop at':>9}{'outcome':>9}{'spills':>7}{'triggered':>10}"
          f"{'incompl.':>9}{'cut':>5}{'not sent':>9}{'balanced':>9}{'verifies':>9}")
    for r in rows:
        at = "-" if r["stop_after_s"] is None else f"{r['stop_after_s']:.1f} s"
        print(f"{r['pace']:>5g}{at:>9}{r['outcome']:>9}{r['spills']:>7}{r['triggered']:>10}"
              f"{r['written_incomplete']:>9}{r['cut_by_stop']:>5}{r['not_sent']:>9}"
              f"{str(r['balanced']):>9}{str(r['file_verifies']):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
