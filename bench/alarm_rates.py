"""The alarms' false-alarm rate on clean emulated runs, with the control-room standards'
figures on the beam's clock (per 10 minutes, floods, chattering, stale, the top 10's share:
``monitor/alarm_performance.py``), and their detection delay for each injected fault
(``docs/monitor.md``, Alarms and Numbers; ``docs/reliability.md``).

The spill checks see what the tap sees: emulated spills at the beam's defaults (5e6 e- per
4.8 s spill, the physics trigger following the beam), reconstructed by the workers' code, one
waveform per batch of 128 sampled, filled into the histogram server that runs the checks;
the pedestals in force are the emulator's (a good pedestal calibration); each clean run's
first spills are checked against a 20-spill reference run, as the tap does. 182 spills are one
hour of beam. The DAQ-level checks (processes, ledgers, crates, feeds) need the real DAQ:
``--daq-spills`` runs one, time-compressed, clean and then with a crate that stops.

    python bench/alarm_rates.py --hours 8 --jobs 2      # false alarms: 1,456 spills
    python bench/alarm_rates.py --faults                 # detection delays
    python bench/alarm_rates.py --daq-spills 30 --pace 4 # a real DAQ, clean and a crate stop
    python bench/alarm_rates.py --daq-hours 8            # 1,455 spills through a real DAQ
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import shutil
import time
from typing import Any

import numpy as np

SPILLS_PER_HOUR = 3600 / (4.8 + 15.0)
FAULT_SPILL = 7
REFERENCE_SPILLS = 20  # each clean run's first spills are checked against a run this long
FAULTS = {  # name -> (emulator settings, the alarm that must rise)
    "dead channel ECAL1:3:3": ({"faults.dead_channel": "ECAL1:3:3"}, "dead channel"),
    "hot channel ECAL1:0:0 (300 ADC)": ({"faults.hot_channel": "ECAL1:0:0"}, "hot channel"),
    "pedestal jump 5 ADC, ECAL1:2:2": ({"faults.pedestal_channel": "ECAL1:2:2",
                                        "faults.pedestal_jump_adc": 5.0}, "pedestal jump"),
    "gain drop 5 %, ECAL1:4:4": ({"faults.gain_channel": "ECAL1:4:4",
                                  "faults.gain_drop_fraction": 0.05}, "gain drift"),
    "beam off": ({"faults.beam_off": True}, "beam off"),
    # not a fault knob (no start spill): PMT saturation early in every spill, from spill 1
    "PMT saturation 0.3 early in the spill (response.pmt_saturation), from spill 1": (
        {"response.pmt_saturation": 0.3}, "early saturation"),
}


def checked_spills(settings: dict[str, Any], spills: int, run: int,
                   on_close=None, reference_server=None) -> dict[str, Any]:
    """Emulate, reconstruct and monitor ``spills`` spills; ``on_close(spill, handler)`` after
    each spill's checks; ``reference_server``: an earlier run's, the alarms' baseline for the
    first spills (as the tap takes its reference run's saved histograms). Returns the
    handler's final header, the time taken, the server."""
    from daq.core.config_schema import load
    from daq.core.detector import Detector
    from daq.reco.reconstruction import Reconstruction
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator, expected_yields
    from monitor.histogram_server import HistogramServer, reference
    from monitor.histograms import HistogramFiller

    detector = Detector.load()
    cfg = load(EmulatorConfig, None, {"run.number": run, **settings})
    em = Emulator(cfg, detector)
    rec = Reconstruction(detector)
    server = HistogramServer(detector, HistogramFiller(
        detector, rec.constants.gev_per_adc, rec.cfg))
    if reference_server is not None:
        from monitor import snapshot as proto
        from monitor.reference import baseline_of

        base = baseline_of(proto.decode(reference_server.snapshot()), detector,
                           f"reference run {reference_server.run}")
        server.baseline_for = lambda _run: base
    constants = rec.constants
    constants.pedestal_adc[:] = em.pedestal  # in force: a good pedestal calibration
    server.reference = reference(constants, expected_yields(cfg, detector),
                                 cfg.trigger.physics_prescale)
    closed = 0
    t0 = time.perf_counter()
    for spill in range(1, spills + 1):
        for b in em.batches(em.spill_plan(spill)):
            samples = b.samples_in_map_order(detector)
            events = b.built_events()
            for lo in range(0, len(events), 128):  # the DAQ's built batches
                sl = slice(lo, lo + 128)
                reco, ch = rec(samples[sl], events[sl])
                pick = np.array([0])
                server.add_batch(run, spill, events[sl], reco, ch.table(),
                                 samples[sl][pick], pick)
                if on_close is not None and len(server.rows) > closed:
                    closed = len(server.rows)
                    on_close(server.rows[-1]["spill"], server.alarms)
        server.snapshot()  # the state checks' heartbeat, as the tap publishes
    return {"header": server.alarms.header(), "seconds": time.perf_counter() - t0,
            "server": server}


def _clean(job: tuple[int, int]) -> dict[str, Any]:
    run, spills = job
    failed: dict[str, int] = {}  # single failing items before the filter, per check

    def on_close(spill, handler):
        for a in handler.alarms.values():
            for severity, _text in a.result.values():
                if severity in ("minor", "major"):
                    failed[a.check.name] = failed.get(a.check.name, 0) + 1

    reference = checked_spills({}, REFERENCE_SPILLS, run + 1000)["server"]
    out = checked_spills({}, spills, run, on_close, reference)
    never = [a["name"] for a in out["header"]["alarms"] if a["state"] == "too few"]
    raises = [e for e in out["header"]["log"] if e["what"].startswith("raised")]
    return {"run": run, "spills": spills, "seconds": out["seconds"], "raised": raises,
            "failed_items": failed, "still_too_few": never}


def false_alarms(hours: float, jobs: int) -> dict[str, Any]:
    n = int(round(hours * SPILLS_PER_HOUR))
    per = [n // jobs + (k < n % jobs) for k in range(jobs)]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        parts = pool.map(_clean, [(100 + k, m) for k, m in enumerate(per)])
    raises = [r for p in parts for r in p["raised"]]
    failed: dict[str, int] = {}
    for p in parts:
        for k, v in p["failed_items"].items():
            failed[k] = failed.get(k, 0) + v
    from monitor.alarm_performance import performance

    spill_s = 3600.0 / SPILLS_PER_HOUR  # on the beam's clock: the jobs' runs one after another
    start = np.cumsum([0] + per[:-1])
    beam = [((start[k] + e["spill"]) * spill_s, e["name"]) for k, p in enumerate(parts)
            for e in p["raised"]]
    return {"spills": n, "hours_of_beam": n / SPILLS_PER_HOUR, "false_alarms": len(raises),
            "performance": performance(beam, 0.0, n * spill_s),
            "failed_items_before_the_filter": failed, "raised": raises,
            "seconds": max(p["seconds"] for p in parts),
            "checks_never_tested": sorted({c for p in parts for c in p["still_too_few"]})}


def detection_delays(spills: int = FAULT_SPILL + 4) -> dict[str, Any]:
    out = {}
    for label, (settings, alarm) in FAULTS.items():
        first: dict[str, int] = {}

        def on_close(spill, handler, first=first):
            for a in handler.alarms.values():
                if a.severity not in ("ok", "too few"):
                    first.setdefault(a.check.name, spill)

        at = FAULT_SPILL if any(k.startswith("faults.") for k in settings) else 1
        res = checked_spills({"faults.at_spill": at, **settings}, spills, 200, on_close)
        spill = first.get(alarm)
        out[label] = {"alarm": alarm, "fault_spill": at, "raised_at_close_of": spill,
                      "delay_spills": None if spill is None else spill - at + 1,
                      "others": {k: v for k, v in first.items() if k != alarm},
                      "guidance": next(a["guidance"] for a in res["header"]["alarms"]
                                       if a["name"] == alarm)[:60] + "..."}
    return out


def daq_run(directory, spills: int, pace: float, settings: dict[str, Any],
            keep_files: bool = True) -> dict[str, Any]:
    """A real DAQ at the beam's pace (``pace`` times faster; 0: time-compressed, as fast as
    it takes them), its alarms from the saved monitor file: every check, the DAQ-level ones
    too. The control-room figures on the beam's clock (a spill every 19.8 s, from the spill
    each alarm rose in), and every process's resident memory, sampled each minute.
    ``keep_files`` False: the run's files are deleted as they close (8 hours of raw samples
    are some 43 GB, measured; the first try filled this machine's disk)."""
    from pathlib import Path

    import h5py

    from daq.app.bench.soak import resident_mb
    from daq.core.config_schema import load
    from daq.core.run_database import RunDatabase
    from daq.processes.daq_config import DaqConfig, ipc_endpoints
    from daq.processes.supervisor import Supervisor
    from monitor.alarm_performance import performance

    directory = Path(directory)
    directory.mkdir(parents=True)
    values = ipc_endpoints(directory)
    values.update({"writer.directory": str(directory / "runs"), "emulator.run.spills": spills,
                   "emulator.spill.time_compressed": not pace, "emulator.spill.pace": pace or 1,
                   "tap.end_of_run_png": False, "writer.max_file_mb": 0 if keep_files else 500,
                   **{f"emulator.{k}": v for k, v in settings.items()}})
    sup = Supervisor(load(DaqConfig, None, values), db=RunDatabase(directory / "runs.db"),
                     log=lambda m: None)
    t0 = time.monotonic()
    memory: dict[str, list[float]] = {}
    stopped_early = None
    try:
        sup.configure()
        sup.start()
        sampled = 0.0
        while sup.state == "running":
            sup.poll(0.05)
            if time.monotonic() - sampled > 60.0:
                sampled = time.monotonic()
                if not keep_files:  # every file of the sequence but the one being written
                    data = [p for p in (directory / "runs").glob("run_*.h5")
                            if re.fullmatch(r"run_\d{6}(_\d{3})?\.h5", p.name)]
                    for path in sorted(data, key=lambda p: p.name.replace(".h5", "_000"))[:-1]:
                        path.unlink()
                if shutil.disk_usage(directory).free < 3e9:  # the truth file grows too
                    stopped_early = f"{shutil.disk_usage(directory).free / 1e9:.1f} GB free"
                    sup.stop(stopped_early)
                for p in sup.procs.all():
                    mb = resident_mb(p.popen.pid)
                    if mb:
                        memory.setdefault(p.name, []).append(round(mb, 1))
        saved = directory / "runs" / f"run_{sup.run:06d}.monitor.h5"
        with h5py.File(saved, "r") as f:
            header = json.loads(f.attrs["snapshot_header"])
        log = header["alarms"]["log"]
        raised = [{k: e[k] for k in ("name", "what", "spill", "text")}
                  for e in log if e["what"].startswith("raised")]
        spill_s = 3600.0 / SPILLS_PER_HOUR
        ledger = sup.ledger or {}
        return {"spills": spills, "pace": pace, "settings": settings, "outcome": sup.outcome,
                "balanced": ledger.get("balanced"), "events": ledger.get("triggered"),
                "incomplete": ledger.get("written_incomplete"),
                "seconds": time.monotonic() - t0, "raised": raised,
                "stopped_early": stopped_early, "spills_closed": (ledger.get("spills")),
                "performance_beam_clock": performance(
                    [(e["spill"] * spill_s, e["name"]) for e in raised], 0.0,
                    spills * spill_s),
                "spills_closed_by_the_tap": header.get("closed_spills"),
                "tap": {k: (ledger.get("stages") or {}).get("tap", {}).get(k)
                        for k in ("taken", "offered", "dropped")},
                "checks_too_few_at_the_end": [a["name"] for a in header["alarms"]["alarms"]
                                              if a["state"] == "too few"],
                "memory_mb_each_minute": memory,
                "errors": header["alarms"]["errors"]}
    finally:
        sup.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=0.0, help="hours of clean beam to check")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--faults", action="store_true", help="detection delays of the faults")
    ap.add_argument("--daq-spills", type=int, default=0, help="a real DAQ run this long, clean, "
                    "then one with a crate that stops at spill 7")
    ap.add_argument("--pace", type=float, default=4.0, help="the real DAQ's speed-up")
    ap.add_argument("--daq-hours", type=float, default=0.0, help="hours of clean beam through "
                    "a real DAQ, time-compressed (the tap's checks, the DAQ-level ones too)")
    args = ap.parse_args()
    from daq.app.bench.machine import description

    result: dict[str, Any] = {"machine": description()}
    if args.hours:
        result["false_alarms"] = false_alarms(args.hours, args.jobs)
    if args.faults:
        result["detection"] = detection_delays()
    if args.daq_spills:
        import tempfile

        tmp = tempfile.mkdtemp(prefix="na64daq-alarms-")
        result["daq_clean"] = daq_run(f"{tmp}/clean", args.daq_spills, args.pace, {})
        result["daq_crate_stops"] = daq_run(
            f"{tmp}/crate", FAULT_SPILL + 3, args.pace,
            {"faults.at_spill": FAULT_SPILL, "faults.stop_source": 3})
    if args.daq_hours:
        import tempfile

        tmp = tempfile.mkdtemp(prefix="na64daq-alarms-")
        result["daq_hours"] = daq_run(f"{tmp}/hours", int(round(
            args.daq_hours * SPILLS_PER_HOUR)), 0.0, {}, keep_files=False)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
