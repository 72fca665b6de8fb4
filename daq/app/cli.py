"""The ``na64daq`` command. User errors print one line naming the problem, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from daq.core.cli_arguments import COUNT, POSITIVE, RUN, OneLineParser, number
from daq.core.config_schema import ConfigError, describe, load
from daq.core.detector import Detector, DetectorMapError
from daq.core.wire_format import FrameError

DESCRIPTION = """\
na64daq: data acquisition and online monitoring for an NA64-style missing-energy experiment
(100 GeV electrons on an active ECAL target).

  na64daq demo                       the whole DAQ on the emulator: one spill, then the ledger
  na64daq run / ctl start|stop       a DAQ under run control
  na64daq status [--json]            the last run's record and loss ledger
  na64daq emulate --out run.h5       emulate a run into a file (frames and truth)
  na64daq emulate                    publish emulated frames on the sources' ZeroMQ endpoints
  na64daq replay run.h5              re-stream a recorded run on the same endpoints
  na64daq inspect [--verify] FILE    what a run file holds (--json for machines)
  na64daq recover FILE               a run file whose writer died, as a closed file
  na64daq export --root FILE         the reconstruction as a ROOT TTree
  na64daq reco FILE                  re-run the reconstruction on a run file's waveforms
  na64daq calib hv|ecal|show|...     calibration scripts and the conditions database
  na64daq detector                   show the channel map
  na64daq config                     list every configuration key with its default and range
"""

USER_ERRORS = (ConfigError, DetectorMapError, FrameError, OSError, KeyError)


def _common(p: argparse.ArgumentParser, daq: bool = False) -> None:
    """--config, --detector and --set, for the emulator's configuration or the whole DAQ's."""
    what, listing, example = (("DAQ", "config --daq", "workers.count=3") if daq else
                              ("emulator", "config", "beam.hadron_fraction=0.02"))
    p.add_argument("--config", metavar="FILE", help=f"{what} configuration (TOML); "
                   f"see 'na64daq {listing}' for the keys")
    p.add_argument("--detector", metavar="FILE",
                   help="detector map (TOML); default: the map shipped with na64daq")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help=f"override one configuration key, e.g. --set {example} "
                        "(repeatable; VALUE is read as TOML)")


def _run_control_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat", metavar="ENDPOINT",
                   help="send heartbeats with the counters to a supervisor (set by na64daq run)")
    p.add_argument("--name", default="source", help="name in those heartbeats")


def _emulate_options(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--spills", type=COUNT, help="number of spills (run.spills)")
    p.add_argument("--intensity", type=number(float, 0.0), metavar="E",
                   help="electrons per spill (beam.intensity_per_spill), e.g. 5e6")
    p.add_argument("--seed", type=number(int, 0), help="random seed (run.seed)")
    p.add_argument("--run", type=RUN, help="run number (run.number)")


def build_parser() -> argparse.ArgumentParser:
    from calib.cli import add_parser as add_calib_parser
    from calib.cli import no_verify_option

    parser = OneLineParser(
        prog="na64daq", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the whole DAQ on the emulator and print the ledger",
                       description="Start emulated crates, event builder, workers, writer and "
                       "monitor tap with embedded defaults, take a run of --spills spills (or "
                       "until Ctrl-C), stop cleanly and print the run summary and loss ledger.")
    _common(p, daq=True)
    p.add_argument("--spills", type=COUNT, default=1, help="spills to take (default 1)")
    p.add_argument("--intensity", type=number(float, 0.0), metavar="E",
                   help="electrons per spill")
    p.add_argument("--out", metavar="DIR", default="runs",
                   help="where the run files go (default: %(default)s)")
    p.add_argument("--no-gui", action="store_true",
                   help="never open the monitor's window (it opens when a display is there)")

    p = sub.add_parser("monitor", help="the online monitor's window, live or from a run file",
                       description="Open the monitor on a running DAQ (the configuration's "
                       "tap endpoint, or --connect), or on a run file (--file, followed while "
                       "it is written). --snapshot renders every panel into one PNG and exits "
                       "(no display needed).")
    _common(p, daq=True)
    p.add_argument("--connect", metavar="ENDPOINT",
                   help="the tap's snapshot endpoint (default: endpoints.tap_publish)")
    p.add_argument("--file", metavar="RUN", help="a run file instead of a live DAQ")
    p.add_argument("--snapshot", metavar="PNG", help="write every panel into PNG and exit")
    p.add_argument("--reference", metavar="RUN",
                   help="the reference run (a number, or a run or monitor file); default: "
                   "the last good run of the same beam energy, trigger and HV version")

    p = sub.add_parser("run", help="start a DAQ and serve run-control commands",
                       description="Start the DAQ's processes from a configuration and wait "
                       "for 'na64daq ctl start|stop|status|shutdown' on the control endpoint.")
    _common(p, daq=True)

    p = sub.add_parser("ctl", help="drive a running DAQ (start, stop, status, shutdown)",
                       description="Send a run-control command to a DAQ started by "
                       "'na64daq run'.")
    p.add_argument("action", choices=("configure", "start", "stop", "status", "shutdown"),
                   help="what the DAQ should do")
    p.add_argument("--config", metavar="FILE", help="DAQ configuration (for its endpoints)")
    p.add_argument("--timeout", type=POSITIVE, default=60.0, help="seconds to wait for an answer")

    p = sub.add_parser("status", help="the last run's record and loss ledger",
                       description="Print a run record (the latest, or --run N) from the run "
                       "database, with its loss ledger.")
    p.add_argument("--run", type=RUN, help="run number (default: the latest)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "emulate", help="emulate the MSADC crates (to a file or on ZeroMQ endpoints)",
        description="Emulate beam time: spills, triggers, physics, pileup and MSADC waveforms. "
        "With --out, write frames and truth to an HDF5 file; without, publish each source's "
        "frames on its own ZeroMQ PUSH endpoint (publish.base_port + source id).")
    _emulate_options(p)
    p.add_argument("--out", metavar="FILE", help="write the run (frames and truth) to FILE")
    p.add_argument("--source", type=number(int, 0, 65535), action="append", metavar="ID",
                   help="publish only this source (repeatable): one process per crate")
    p.add_argument("--truth", metavar="FILE",
                   help="when publishing: write the events' truth (no samples) to FILE")
    _run_control_options(p)
    p.add_argument("--real-time", action="store_true",
                   help="emit at the beam's pace (4.8 s spills and pauses, scaled by spill.pace)"
                        " instead of as fast as the consumers take")
    p.add_argument("--compile-only", action="store_true",
                   help="compile the kernels into numba's cache and exit (run control does it "
                        "at configure, so that the crates started with the run are ready)")

    p = sub.add_parser("replay", help="re-stream a recorded run on the sources' endpoints",
                       description="Re-stream the waveforms of an emulated-run file, frame for "
                       "frame, at the original pace (--pace 1), a scaled pace, or as fast as the "
                       "consumers take (--pace 0, the default).")
    _common(p)
    p.add_argument("file", help="an emulated-run file written by 'na64daq emulate --out'")
    p.add_argument("--pace", type=number(float, 0.0), default=0.0,
                   help="1 = as recorded, 2 = twice as fast, 0 = as fast as consumers take")
    p.add_argument("--source", type=number(int, 0, 65535), action="append", metavar="ID",
                   help="replay only this source (repeatable)")
    _run_control_options(p)
    p.add_argument("--repeat", type=COUNT, default=1, metavar="N",
                   help="play the recorded spills N times, as further spills (default 1)")
    no_verify_option(p)

    p = sub.add_parser("inspect", help="what a run file holds; --verify proves it intact",
                       description="Summarise a run file (or its rotated sequence): run, "
                       "spills, events, classes, loss ledger, provenance. --verify re-reads "
                       "every block and compares it with its stored checksum.")
    p.add_argument("file", help="a run file (run_NNNNNN.h5, any file of its sequence)")
    p.add_argument("--verify", action="store_true", help="check every block's checksums "
                   "(exit code 1 if any differs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("recover", help="copy a crashed run file's intact blocks to a "
                       "closed file",
                       description="A run file whose writer died opens in SWMR mode only. "
                       "Copy every block its checksums prove intact into FILE.recovered.h5 "
                       "(or --out), which any HDF5 reader opens; the original is untouched.")
    p.add_argument("file", help="the run file")
    p.add_argument("--out", metavar="FILE", help="where to write (default FILE.recovered.h5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", help="the reconstruction table as a ROOT TTree",
                       description="Write the reconstruction (event table, per-event and "
                       "per-channel results) of a run as the TTree 'reco' of a ROOT file, and "
                       "the spill table as 'spills'.")
    p.add_argument("--root", action="store_true", required=True, help="ROOT (the only format)")
    p.add_argument("file", help="a run or reconstruction file")
    p.add_argument("--out", metavar="FILE", help="ROOT file (default: FILE with .root)")
    no_verify_option(p)

    p = sub.add_parser("reco", help="re-run the reconstruction on a run file's waveforms",
                       description="Reconstruct the raw waveforms of a run file again (new "
                       "configuration or calibration) into a reconstruction file that points "
                       "to its source (default FILE.reco.h5).")
    p.add_argument("file", help="a run file with raw waveforms")
    p.add_argument("--out", metavar="FILE", help="reconstruction file to write")
    p.add_argument("--config", metavar="FILE", help="reconstruction configuration (TOML); "
                   "see 'na64daq config --reco'")
    p.add_argument("--calibration", metavar="FILE", help="calibration constants (JSON, as in "
                   "a run file's /provenance/calibration); default: those of the run")
    p.add_argument("--conditions", action="store_true", help="then the constants in force "
                   "for the run in the conditions database (--db)")
    p.add_argument("--db", metavar="PATH", help="conditions database (default: $NA64DAQ_DB "
                   "or the per-user one)")
    no_verify_option(p)


    add_calib_parser(sub)

    p = sub.add_parser("detector", help="show the channel map",
                       description="Print the detector map: sources and channels.")
    p.add_argument("--detector", metavar="FILE", help="detector map (TOML) to check and show")
    p.add_argument("--channels", action="store_true", help="list every channel")

    p = sub.add_parser("config", help="list every configuration key",
                       description="Every configuration key with its default, unit, allowed "
                       "range and meaning: the emulator's, or with --daq the whole DAQ's.")
    p.add_argument("--daq", action="store_true", help="the DAQ configuration (na64daq run)")
    p.add_argument("--reco", action="store_true", help="the reconstruction's configuration")
    p.add_argument("--calib", action="store_true", help="the calibration scripts' defaults")

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
    return parser


def _overrides(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """--set values, and the shortcut options (keys of the emulator, under ``prefix``)."""
    import tomllib

    out: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw  # a bare word is a string
    for attr, key in (("spills", "run.spills"), ("intensity", "beam.intensity_per_spill"),
                      ("seed", "run.seed"), ("run", "run.number")):
        value = getattr(args, attr, None)
        if value is not None:
            out[prefix + key] = value
    return out


def _emulator(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator

    overrides = _overrides(args)
    overrides.update(extra or {})
    cfg = load(EmulatorConfig, args.config, overrides)
    detector = Detector.load(args.detector)
    return Emulator(cfg, detector)


def cmd_emulate_to_file(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> int:
    from emulator.frames_file import read_run, write_run
    from emulator.summary import summarize

    em = _emulator(args, extra)
    t0 = time.perf_counter()
    em.warm_up()
    compile_s = time.perf_counter() - t0
    if compile_s > 1.0:
        print(f"compiled the emulator's kernels in {compile_s:.1f} s (cached for next time)")
    t0 = time.perf_counter()
    write_run(em, args.out)
    elapsed = time.perf_counter() - t0
    run = read_run(args.out)
    print(summarize(run, em.detector, elapsed))
    return 0


def _daq_config(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from daq.processes.daq_config import DaqConfig

    overrides = _overrides(args, prefix="emulator.")
    overrides.update(extra or {})
    return load(DaqConfig, args.config, overrides)


def cmd_demo(args: argparse.Namespace) -> int:
    cfg = _daq_config(args, {"writer.directory": args.out})
    from daq.app.terminal import Output, StopSignals, stop_reason
    from daq.app.terminal_report import end_progress, print_progress, print_summary
    from daq.processes.supervisor import PNG_WAIT_S, RunControlError, Supervisor

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


def cmd_monitor(args: argparse.Namespace) -> int:
    from emulator.emulator import recorded_yields
    from monitor import app

    cfg = _daq_config(args)
    feed = app.open_feed(args.connect or cfg.endpoints.tap_publish, args.file,
                         follow=not args.snapshot, expected=recorded_yields)
    detector = getattr(feed, "detector", None) or Detector.load(args.detector)
    control = None if args.file else cfg.endpoints.control
    return app.run(feed, detector, args.snapshot, control, args.reference)


class MonitorWindowProcess:
    """``demo``'s monitor window, in a process of its own (the GUI never shares a process with
    the DAQ), watched: one that fails is said with its cause, never announced as open. It
    stays open after the run, until the crew closes it."""

    def __init__(self, cfg) -> None:
        import subprocess

        self.log_path = cfg.log_directory / "monitor-window.log"
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                 cfg.endpoints.tap_publish.replace("*", "127.0.0.1")],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"monitor window starting on {cfg.endpoints.tap_publish} (its log: "
              f"{self.log_path})", flush=True)
        self.said = False

    def check(self, say) -> None:
        code = self.popen.poll()
        if code is None or self.said:
            return
        from daq.processes.supervisor import last_line

        self.said = True
        if code != 0:
            say(f"the monitor window failed (exit code {code}): "
                f"{last_line(self.log_path) or 'no message'}")


def cmd_run(args: argparse.Namespace) -> int:
    from daq.processes.supervisor import serve

    return serve(_daq_config(args), args.detector)


def cmd_ctl(args: argparse.Namespace) -> int:
    import json

    from daq.core.run_control_client import ask
    from daq.processes.daq_config import DaqConfig

    cfg = load(DaqConfig, args.config)
    answer = ask(cfg.endpoints.control, args.action, args.timeout)
    print(json.dumps(answer, indent=1))
    return 0 if answer.get("ok") else 1


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from daq.app.terminal_report import print_summary
    from daq.core.run_database import RunDatabase

    db = RunDatabase()
    rec = db.run(args.run)
    if rec is None:
        raise ConfigError(f"no run {args.run} in {db.path}" if args.run else
                          f"no run recorded yet in {db.path}")
    if args.json:
        print(json.dumps(rec, indent=1))
    else:
        print_summary({"run": rec["run"], "state": rec["state"], "error": rec["error"],
                       "ledger": rec["ledger"]})
    return 0


class _RunSignals:
    """A source's signals from run control, caught from the command's first moment: SIGTERM
    (stop) during start-up (the JIT, a file to read) ends the run cleanly too, instead of
    killing the crate before it could close its run; SIGUSR1 enables the trigger, sent to
    every crate at once when all are ready, so that they share the spill clock as crates do
    (each starting on its own, they were a second apart, and a stop cut that much)."""

    def __init__(self) -> None:
        self.publisher = None
        self.reason: str | None = None
        self.go = False
        self.previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._stop),
                         signal.SIGUSR1: signal.signal(signal.SIGUSR1, self._go)}

    def __enter__(self) -> _RunSignals:
        return self

    def __exit__(self, *_: object) -> None:  # the command may run inside another program
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _stop(self, *_: object) -> None:
        self.reason = "asked to stop (SIGTERM)"
        if self.publisher is not None:
            self.publisher.request_stop(self.reason)

    def _go(self, *_: object) -> None:
        self.go = True
        if self.publisher is not None:
            self.publisher.go.set()

    def attach(self, publisher) -> None:
        self.publisher = publisher
        if self.reason:
            publisher.request_stop(self.reason)
        if self.go:
            publisher.go.set()


def cmd_emulate(args: argparse.Namespace) -> int:
    with _RunSignals() as signals:
        return _emulate(args, signals)


def _emulate(args: argparse.Namespace, signals: _RunSignals) -> int:
    if args.out:
        if args.source or args.real_time or args.truth:
            raise ConfigError("--out writes every source and the truth to a file; --source, "
                              "--real-time and --truth are for publishing")
        return cmd_emulate_to_file(args)
    em = _emulator(args, {"spill.time_compressed": not args.real_time})
    ids = args.source or list(em.detector.source_ids)
    for sid in ids:
        em.detector.source(sid)
    if args.compile_only:
        em.warm_up(ids)
        return 0
    with _publisher(em.cfg.publish, not args.real_time, em.cfg.spill.pace, ids, args,
                    signals) as pub:
        with pub.starting():  # ready before the start of run, as a crate is configured first
            em.warm_up(ids)
        if not args.truth:
            return _publish(pub, em.frames(ids))
        from emulator.frames_file import EmulatedRunWriter

        writer = EmulatedRunWriter(args.truth, em, with_samples=False)
        try:
            return _publish(pub, _recording_truth(em.stream(ids), writer))
        finally:
            with pub.beating():  # the truth of a long run takes seconds to close
                writer.close()


def _recording_truth(items, writer):
    """The frames of an emulator stream; its batches' truth goes to ``writer``."""
    from emulator.emulator import Batch, SpillPlan

    for item in items:
        if isinstance(item, Batch):
            writer.append(item)
        elif isinstance(item, SpillPlan):
            writer.end_spill(item)
        else:
            yield item


def cmd_replay(args: argparse.Namespace) -> int:
    from emulator.config import EmulatorConfig
    from emulator.frames_file import read_run
    from emulator.replay import Replay

    cfg = load(EmulatorConfig, args.config, _overrides(args))
    detector = Detector.load(args.detector)
    if args.source:
        for sid in args.source:
            detector.source(sid)
    ids = args.source or list(detector.source_ids)

    def read() -> Replay:
        return Replay(read_run(args.file, truth=False, verify_blocks=not args.no_verify),
                      detector)

    # alone, the file is read before any port is bound (a bad file takes no port); under run
    # control it is read while the heartbeats go on
    replay = read() if args.heartbeat is None else None
    with _RunSignals() as signals, _publisher(cfg.publish, args.pace == 0, args.pace, ids,
                                              args, signals) as pub:
        if replay is None:
            with pub.starting():
                replay = read()
        return _publish(pub, replay.frames(ids, repeat=args.repeat))


@contextlib.contextmanager
def _publisher(publish, time_compressed: bool, pace: float, ids,
               args: argparse.Namespace, signals: _RunSignals) -> Iterator[Any]:
    """The crates' sockets, bound for the command and let go whatever happens (a replay of a
    damaged file, run inside another program, kept the default ports bound)."""
    from emulator.publisher import Publisher

    endpoints = {sid: publish.endpoint(sid) for sid in ids}
    pub = Publisher(endpoints, time_compressed, pace, publish.send_hwm, publish.linger_s,
                    heartbeat=args.heartbeat, name=args.name,
                    wait_for_go=args.heartbeat is not None)  # under run control
    signals.attach(pub)
    try:
        yield pub
    finally:
        pub.close()


def _publish(pub, frames) -> int:
    print("publishing " + ", ".join(f"source {s}" for s in pub.sockets), flush=True)
    counters = pub.run(frames)
    for sid, c in counters.items():
        info = c.info(spill=False)
        print(f"source {sid}: {info['triggered']} events triggered, {info['sent']} sent, "
              f"{info['not_sent']} not sent")
    return 0


def cmd_detector(args: argparse.Namespace) -> int:
    det = Detector.load(args.detector)
    print(f"{det.path}: {det.summary()}")
    for s in det.sources:
        print(f"  source {s.id} {s.name}: {len(s.channels)} channels ({s.description})")
    if args.channels:
        for c in det.channels:
            alias = f" ({c.alias})" if c.alias else ""
            print(f"  {c.index:4d} {c.name:<10}{alias:<9} {c.detector:<5} source {c.source} "
                  f"port {c.port} channel {c.channel}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from calib.calib_config import CalibConfig
    from daq.processes.daq_config import DaqConfig
    from daq.reco.reco_config import RecoConfig
    from emulator.config import EmulatorConfig

    cls = (DaqConfig if args.daq else RecoConfig if args.reco else CalibConfig if args.calib
           else EmulatorConfig)
    for key, default, unit, allowed, doc in describe(cls):
        unit = f" [{unit}]" if unit else ""
        print(f"{key} = {default}{unit}\n    {doc}; {allowed}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
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


def cmd_inspect(args: argparse.Namespace) -> int:
    from daq.run_file.inspection import print_summary, summary, to_json
    from daq.run_file.reader import RunReader
    from daq.run_file.verification import verify

    with RunReader(args.file) as run:
        s = summary(run)
        v = verify(run) if args.verify else None
    if args.json:
        print(to_json(s, v))
    else:
        print_summary(s, v)
    return 1 if v is not None and not v["ok"] else 0


def cmd_recover(args: argparse.Namespace) -> int:
    from daq.run_file.recovery import recover

    r = recover(args.file, args.out)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"run {r['run']}: {r['events']} events in {r['blocks_verified']} verified blocks "
          f"copied to {r['file']}" + ("" if r["closed"] else " (the run had not closed)"))
    if r["bytes_missing"]:
        print(f"  the file was {r['bytes_missing']} bytes short (truncated, or its disk was "
              "full): only verified blocks copied, not its spill table")
    if r["unverified_rows"] or r["bad_blocks"]:
        print(f"  left out: {r['unverified_rows']} rows written after the last flush, "
              f"{len(r['bad_blocks'])} damaged blocks" + "".join(
                  f"\n    block {b['block']} (rows {b['rows'][0]}-{b['rows'][1]}): "
                  + "; ".join(b["problems"]) for b in r["bad_blocks"][:10]))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from daq.run_file.root_export import export_root

    r = export_root(args.file, args.out, verify_blocks=not args.no_verify)
    print(f"run {r['run']}: {r['entries']} events in TTree '{r['tree']}' of {r['file']}")
    return 0


def cmd_reco(args: argparse.Namespace) -> int:
    from daq.reco.reco_config import RecoConfig
    from daq.run_file.reprocessing import reprocess

    constants = None
    if args.calibration:
        try:
            with open(args.calibration) as fh:
                constants = json.load(fh)
        except ValueError as exc:
            raise ConfigError(f"{args.calibration}: not JSON ({exc})") from None
    db = None
    if args.conditions:
        from daq.core.run_database import RunDatabase

        db = RunDatabase(args.db)
    try:
        r = reprocess(args.file, args.out, load(RecoConfig, args.config), constants,
                      conditions=db, verify_blocks=not args.no_verify)
    finally:
        if db is not None:
            db.close()
    print(f"run {r['run']}: {r['events']} events reconstructed (calibration "
          f"{r['calibration_tag']}) into {r['file']}")
    return 0


def cmd_calib(args: argparse.Namespace) -> int:
    from calib.cli import run

    return run(args)


COMMANDS = {"bench": cmd_bench, "calib": cmd_calib, "demo": cmd_demo, "emulate": cmd_emulate,
            "replay": cmd_replay,
            "detector": cmd_detector, "config": cmd_config, "run": cmd_run, "ctl": cmd_ctl,
            "status": cmd_status, "inspect": cmd_inspect, "recover": cmd_recover,
            "export": cmd_export, "reco": cmd_reco, "monitor": cmd_monitor}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("na64daq: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.filename:
            msg = f"{exc.filename}: {exc.strerror}"
        print(f"na64daq: error: {msg}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    if isinstance(exc, USER_ERRORS):
        return True
    from calib.fit_figure import FigureError
    from calib.logbook import LogbookFormatError
    from daq.conditions import ConditionsError
    from daq.core.channel_table import ValueTableError
    from daq.core.run_database import RunDatabaseError
    from daq.processes.supervisor import RunControlError
    from daq.run_file.layout import RunFileError  # imported late: it pulls in h5py

    return isinstance(exc, (RunFileError, RunDatabaseError, RunControlError, ConditionsError,
                            LogbookFormatError, ValueTableError, FigureError))


if __name__ == "__main__":
    sys.exit(main())
