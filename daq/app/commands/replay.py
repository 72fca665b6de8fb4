"""``na64daq replay``: re-stream a recorded run on the sources' endpoints."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses

from daq.app.options import (
    common_options,
    config_overrides,
    run_control_options,
    trigger_bits_option,
)
from daq.app.source_process import RunSignals, publish, publisher
from daq.core.cli_arguments import COUNT, name_option, no_verify_option, number
from daq.core.config_schema import load
from daq.core.detector import Detector


def add_arguments(sub) -> None:
    p = sub.add_parser("replay", help="re-stream a recorded run on the sources' endpoints",
                       description="Re-stream the waveforms of an emulated-run file or a run file, "
                       "frame for frame, or of NA64's raw data (DATE files, placed by a channel "
                       "map), at the original pace (--pace 1), a scaled pace, or as fast as the "
                       "consumers take (--pace 0, the default).")
    common_options(p)
    p.add_argument("file", nargs="+", help="an emulated-run file ('na64daq emulate --out'), a "
                   "run file, or the DATE raw files of one run in order")
    p.add_argument("--map", metavar="PATH", help="DATE files: the channel map (COMPASS XML, or "
                   "a directory of them); default: the emulated detector's, shipped")
    p.add_argument("--follow", type=number(float, 0.0, low_inclusive=False), metavar="S",
                   help="DATE files: follow the last as DATE writes it, until its end of run "
                   "or S seconds without growth")
    name_option(p, "--map-name")
    trigger_bits_option(p)
    p.add_argument("--pace", type=number(float, 0.0), default=0.0,
                   help="1 = as recorded, 2 = twice as fast, 0 = as fast as consumers take")
    p.add_argument("--source", type=number(int, 0, 65535), action="append", metavar="ID",
                   help="replay only this source (repeatable)")
    run_control_options(p)
    p.add_argument("--repeat", type=COUNT, default=1, metavar="N",
                   help="play the recorded spills N times, as further spills (default 1)")
    no_verify_option(p)


def run(args: argparse.Namespace) -> int:
    from daq.core.config_schema import ConfigError
    from daq.raw.channel_map import EMULATED_MAP
    from emulator.config import EmulatorConfig
    from emulator.date_replay import DateReplay, is_date_file
    from emulator.frames_file import read_run
    from emulator.replay import Replay

    cfg = load(EmulatorConfig, args.config, config_overrides(args))
    detector = Detector.load(args.detector)
    if args.source:
        for sid in args.source:
            detector.source(sid)
    ids = args.source or list(detector.source_ids)

    date = is_date_file(args.file[0])
    if len(args.file) > 1 and not date:
        raise ConfigError("several files are DATE raw files of one run; a run file is one")
    if (args.map or args.follow or args.names or args.trigger_bits) and not date:
        raise ConfigError("--map, --follow, --map-name and --trigger-bits are for DATE raw files")

    supervised = args.heartbeat is not None  # then the frames carry the DAQ's run

    def read(busy=contextlib.nullcontext) -> Replay | DateReplay:
        if date:
            return DateReplay(args.file, args.map or EMULATED_MAP, detector,
                              cfg.run.number if supervised else None, args.follow,
                              cfg.run.batch_events, busy, dict(args.names), args.trigger_bits)
        run = read_run(args.file[0], truth=False, verify_blocks=not args.no_verify)
        return Replay(dataclasses.replace(run, run=cfg.run.number) if supervised else run,
                      detector)

    # alone, the file is read before any port is bound (a bad file takes no port); under run
    # control it is read while the heartbeats go on
    replay = read() if args.heartbeat is None else None
    with RunSignals() as signals, publisher(cfg.publish, args.pace == 0, args.pace, ids,
                                              args, signals) as pub:
        if replay is None:
            with pub.starting():
                replay = read(pub.beating)
        return publish(pub, replay.frames(ids, repeat=args.repeat))
