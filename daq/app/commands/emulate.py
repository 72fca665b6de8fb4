"""``na64daq emulate``: emulate the MSADC crates (to a file or on ZeroMQ endpoints)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from daq.app.options import emulate_options, emulator_from, run_control_options
from daq.app.source_process import RunSignals, publish, publisher
from daq.core.cli_arguments import number
from daq.core.config_schema import ConfigError


def add_arguments(sub) -> None:
    p = sub.add_parser(
        "emulate", help="emulate the MSADC crates (to a file or on ZeroMQ endpoints)",
        description="Emulate beam time: spills, triggers, physics, pileup and MSADC waveforms. "
        "With --out, write frames and truth to an HDF5 file; without, publish each source's "
        "frames on its own ZeroMQ PUSH endpoint (publish.base_port + source id).")
    emulate_options(p)
    p.add_argument("--out", metavar="FILE", help="write the run (frames and truth) to FILE")
    p.add_argument("--date", metavar="FILE", help="write the run as NA64's raw data: a DATE "
                   "file of MSADC blocks (docs/raw-format.md; 'na64daq convert' reads it with "
                   "the shipped map)")
    p.add_argument("--source", type=number(int, 0, 65535), action="append", metavar="ID",
                   help="publish only this source (repeatable): one process per crate")
    p.add_argument("--truth", metavar="FILE",
                   help="when publishing: write the events' truth (no samples) to FILE")
    run_control_options(p)
    p.add_argument("--real-time", action="store_true",
                   help="emit at the beam's pace (4.8 s spills and pauses, scaled by spill.pace)"
                        " instead of as fast as the consumers take")
    p.add_argument("--compile-only", action="store_true",
                   help="compile the kernels into numba's cache and exit (run control does it "
                        "at configure, so that the crates started with the run are ready)")


def run(args: argparse.Namespace) -> int:
    with RunSignals() as signals:
        return emulate(args, signals)


def emulate(args: argparse.Namespace, signals: RunSignals) -> int:
    if args.date:
        if args.out or args.source or args.real_time or args.truth:
            raise ConfigError("--date writes the whole run as one DATE file; --out, --source, "
                              "--real-time and --truth are for the other ways")
        from emulator.date_export import write_date

        em = emulator_from(args, {})
        n = write_date(em, args.date, list(range(1, em.cfg.run.spills + 1)))
        print(f"run {em.cfg.run.number}: {n:,} events in {em.cfg.run.spills} spills written "
              f"to {args.date} (DATE 3.14)")
        return 0
    if args.out:
        if args.source or args.real_time or args.truth:
            raise ConfigError("--out writes every source and the truth to a file; --source, "
                              "--real-time and --truth are for publishing")
        return emulate_to_file(args)
    em = emulator_from(args, {"spill.time_compressed": not args.real_time})
    ids = args.source or list(em.detector.source_ids)
    for sid in ids:
        em.detector.source(sid)
    if args.compile_only:
        em.warm_up(ids)
        return 0
    with publisher(em.cfg.publish, not args.real_time, em.cfg.spill.pace, ids, args,
                    signals, em.cfg.faults) as pub:
        with pub.starting():  # ready before the start of run, as a crate is configured first
            em.warm_up(ids)
        if not args.truth:
            return publish(pub, em.frames(ids))
        from emulator.frames_file import EmulatedRunWriter

        writer = EmulatedRunWriter(args.truth, em, with_samples=False)
        try:
            return publish(pub, recording_truth(em.stream(ids), writer))
        finally:
            with pub.beating():  # the truth of a long run takes seconds to close
                writer.close()


def recording_truth(items, writer):
    """The frames of an emulator stream; its batches' truth goes to ``writer``."""
    from emulator.emulator import Batch, SpillPlan

    for item in items:
        if isinstance(item, Batch):
            writer.append(item)
        elif isinstance(item, SpillPlan):
            writer.end_spill(item)
        else:
            yield item


def emulate_to_file(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> int:
    from emulator.frames_file import read_run, write_run
    from emulator.summary import summarize

    em = emulator_from(args, extra)
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
