"""``na64daq demo``: run the whole DAQ on the emulator and print the ledger."""

from __future__ import annotations

import argparse
import os
import time

from daq.app.commands.monitor import MonitorWindowProcess
from daq.app.options import common_options, daq_config_from
from daq.core.cli_arguments import COUNT, number


def add_arguments(sub) -> None:
    p = sub.add_parser("demo", help="run the whole DAQ on the emulator and print the ledger",
                       description="Start emulated crates, event builder, workers, writer and "
                       "monitor tap with embedded defaults, take a run of --spills spills (or "
                       "until Ctrl-C), stop cleanly and print the run summary and loss ledger.")
    common_options(p, daq=True)
    p.add_argument("--spills", type=COUNT, default=1, help="spills to take (default 1)")
    p.add_argument("--intensity", type=number(float, 0.0), metavar="E",
                   help="electrons per spill")
    p.add_argument("--out", metavar="DIR", default="runs",
                   help="where the run files go (default: %(default)s)")
    p.add_argument("--date", metavar="FILE", help="take the run from NA64's raw data (a DATE "
                   "file, replayed at its recorded pace) instead of the emulator")
    p.add_argument("--map", metavar="PATH", help="with --date: the channel map (COMPASS XML, "
                   "or a directory of them); default: the emulated detector's, shipped")
    p.add_argument("--no-gui", action="store_true",
                   help="never open the monitor's window (it opens when a display is there)")


def run(args: argparse.Namespace) -> int:
    extra = {"writer.directory": args.out}
    if args.date:  # DATE keeps no trigger phase: docs/raw-format.md
        extra.update({"run.sources": "replay", "run.replay_file": args.date,
                      "run.replay_map": args.map or "",
                      "reco.pulses.trigger_phase": "unknown"})
    elif args.map:
        from daq.core.config_schema import ConfigError

        raise ConfigError("--map is for --date")
    cfg = daq_config_from(args, extra)
    from daq.app.terminal import Output, StopSignals, stop_reason
    from daq.app.terminal_report import end_progress, print_progress, print_summary
    from daq.core.control_protocol import RunControlError
    from daq.processes.supervisor import PNG_WAIT_S, Supervisor

    def log(message: str) -> None:
        end_progress()
        print(message, flush=True)

    # Ctrl-C, SIGTERM, a closed terminal or a lost output stop the run cleanly, at any moment
    signals, output = StopSignals(), Output()
    sup = Supervisor(cfg, args.detector, log=log)
    window = None
    try:
        print("starting builder, writer, monitor tap and "
              f"{cfg.workers.count} workers...", flush=True)
        sup.configure()
        if sup.state != "configured":
            raise RunControlError(f"the DAQ could not start: {sup.error}")
        if (why := stop_reason(signals, output)) is not None:
            print(f"{why}: no run taken", flush=True)
            return 130
        if not args.no_gui and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            window = MonitorWindowProcess(cfg)
        sup.start()
        next_print = time.monotonic()
        while sup.state == "running":
            if (why := stop_reason(signals, output)) is not None:
                print(f"\n{why}: stopping...", flush=True)
                sup.stop(why)
                break
            sup.poll(0.2)
            if window is not None:
                window.check(log)
            if sup.state == "running" and time.monotonic() >= next_print:
                next_print += 1.0
                print_progress(sup.status())
        sup.wait_for_png(PNG_WAIT_S)  # said in the log, and in the run record
        if window is not None:
            window.check(log)
        print_summary(sup.status())
        ok = sup.outcome == "stopped" and sup.ledger and sup.ledger.get("balanced")
        return 0 if ok else 1
    finally:
        sup.close()
        signals.restore()
        output.restore()
