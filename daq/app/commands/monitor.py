"""``na64daq monitor``: the online monitor's window, live or from a run file."""

from __future__ import annotations

import argparse
import sys

from daq.app.options import common_options, daq_config_from
from daq.core.detector import Detector


def add_arguments(sub) -> None:
    p = sub.add_parser("monitor", help="the online monitor's window, live or from a run file",
                       description="Open the monitor on a running DAQ (the configuration's "
                       "tap endpoint, or --connect), or on a run file (--file, followed while "
                       "it is written). --snapshot renders every panel into one PNG and exits "
                       "(no display needed).")
    common_options(p, daq=True)
    p.add_argument("--connect", metavar="ENDPOINT",
                   help="the tap's snapshot endpoint (default: endpoints.tap_publish)")
    p.add_argument("--file", metavar="RUN", help="a run file instead of a live DAQ")
    p.add_argument("--snapshot", metavar="PNG", help="write every panel into PNG and exit")
    p.add_argument("--key", metavar="NAME", help="the key to act as when the DAQ uses CURVE "
                   "(default: security.client_key); a viewer's key only watches")
    p.add_argument("--reference", metavar="RUN",
                   help="the reference run (a number, or a run or monitor file); default: "
                   "the last good run of the same beam energy, trigger and HV version")


def run(args: argparse.Namespace) -> int:
    from daq.processes.daq_config import client_key
    from emulator.emulator import recorded_yields
    from monitor import app

    cfg = daq_config_from(args)
    keys = None if args.file else client_key(cfg, args.key)
    feed = app.open_feed(args.connect or cfg.endpoints.tap_publish, args.file,
                         follow=not args.snapshot, expected=recorded_yields, curve_keys=keys)
    detector = getattr(feed, "detector", None) or Detector.load(args.detector)
    control = None if args.file else cfg.endpoints.control
    return app.run(feed, detector, args.snapshot, control, args.reference, keys)


class MonitorWindowProcess:
    """``demo``'s monitor window, in a process of its own (the GUI never shares a process with
    the DAQ), watched: one that fails is said with its cause, never announced as open. It
    stays open after the run, until the crew closes it."""

    def __init__(self, cfg) -> None:
        import subprocess

        from daq.core.link_security import reachable

        self.log_path = cfg.log_directory / "monitor-window.log"
        keys = []  # a DAQ on CURVE: the window's key is security.client_key
        if cfg.curve:
            keys = ["--set", "security.curve='on'", "--set",
                    f"security.keys_directory='{cfg.security.keys_directory}'", "--set",
                    f"security.client_key='{cfg.security.client_key}'", "--set",
                    f"security.server_key='{cfg.security.server_key}'"]
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                 reachable(cfg.endpoints.tap_publish), *keys],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"monitor window starting on {cfg.endpoints.tap_publish} (its log: "
              f"{self.log_path})", flush=True)
        self.said = False

    def check(self, say) -> None:
        code = self.popen.poll()
        if code is None or self.said:
            return
        from daq.processes.process_table import last_line

        self.said = True
        if code != 0:
            say(f"the monitor window failed (exit code {code}): "
                f"{last_line(self.log_path) or 'no message'}")
