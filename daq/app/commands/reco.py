"""``na64daq reco``: the reconstruction computed again from run files' waveforms; one file in
this process, several on a Dask cluster (``docs/reprocessing.md``)."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import no_verify_option
from daq.core.config_schema import ConfigError, load


def add_arguments(sub) -> None:
    p = sub.add_parser("reco", help="re-run the reconstruction on run files' waveforms",
                       description="Reconstruct the raw waveforms of run files again into "
                       "reconstruction files that point to their source (FILE.reco.h5). With "
                       "no option, a reproduction: each run's own configuration, constants "
                       "and learnt state, checked bit for bit against its online values (exit "
                       "1 if a column differs). Several files (or --scheduler) run on a Dask "
                       "cluster, one task per file; outputs already complete are kept, so an "
                       "interrupted run resumes.")
    p.add_argument("files", nargs="+", metavar="FILE", help="run files with raw waveforms")
    p.add_argument("--out", metavar="FILE", help="reconstruction file to write (one FILE)")
    p.add_argument("--out-dir", metavar="DIR", help="write the reconstruction files here "
                   "instead of beside their sources")
    p.add_argument("--config", metavar="FILE", help="reconstruction configuration (TOML); "
                   "see 'na64daq config --reco'; default: each run's own")
    p.add_argument("--calibration", metavar="FILE", help="calibration constants (JSON, as in "
                   "a run file's /provenance/calibration); default: those of each run")
    p.add_argument("--conditions", action="store_true", help="then the constants in force "
                   "for the run in the conditions database (--db)")
    p.add_argument("--db", metavar="PATH", help="conditions database (default: $NA64DAQ_DB "
                   "or the per-user one)")
    p.add_argument("--relearn", action="store_true", help="learn the running pedestals and "
                   "the gain drift afresh, per spill in event order, instead of using the "
                   "state recorded with each batch")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler "
                   "(tcp://host:8786); default: a local cluster of --workers processes")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="processes of the "
                   "local cluster (default 2)")
    no_verify_option(p)


def run(args: argparse.Namespace) -> int:
    from daq.reco.reco_config import RecoConfig

    if args.out and len(args.files) > 1:
        raise ConfigError("--out names one output: use --out-dir for several files")
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: at least 1")
    constants = None
    if args.calibration:
        try:
            with open(args.calibration) as fh:
                constants = json.load(fh)
        except ValueError as exc:
            raise ConfigError(f"{args.calibration}: not JSON ({exc})") from None
        except OSError as exc:
            raise ConfigError(f"{args.calibration}: {exc.strerror}") from None
    config = load(RecoConfig, args.config) if args.config else None  # None: the run's own
    db_path = None
    if args.conditions:
        from daq.core.run_database import RunDatabase

        db = RunDatabase(args.db)  # checked here, opened again by each task
        db_path = str(db.path)
        db.close()
    if len(args.files) == 1 and args.scheduler is None:
        return _one(args, config, constants, db_path)
    from daq.app.reprocessing_cluster import Options, reprocess_files

    outcome = reprocess_files(args.files, Options(config, constants, db_path, args.relearn,
                                                  not args.no_verify, args.out_dir),
                              args.scheduler, args.workers)
    bad = [r for r in outcome.done if r["reproduction"] and r["differing"]]
    print(f"{len(outcome.done)} reconstructed, {len(outcome.skipped)} already complete, "
          f"{len(outcome.failed)} failed, of {len(args.files)} files"
          + (f"; {len(bad)} NOT reproduced bit for bit" if bad else ""))
    for name, reason in outcome.failed.items():
        print(f"  failed: {name}: {reason}")
    for r in bad:
        print(f"  NOT a reproduction: {r['source_file']}: {', '.join(r['differing'])}")
    if outcome.interrupted:
        print("interrupted: run the same command again to resume")
        return 130
    return 1 if outcome.failed or bad else 0


def _one(args: argparse.Namespace, config, constants, db_path: str | None) -> int:
    from daq.app.reprocessing_cluster import output_path
    from daq.core.run_database import RunDatabase
    from daq.run_file.reprocessing import reprocess

    db = RunDatabase(db_path) if db_path else None
    out = args.out or output_path(args.files[0], args.out_dir)
    try:
        r = reprocess(args.files[0], out, config, constants, conditions=db,
                      verify_blocks=not args.no_verify, relearn=args.relearn)
    finally:
        if db is not None:
            db.close()
    print(f"run {r['run']}: {r['events']} events reconstructed (calibration "
          f"{r['calibration_tag']}, {r['reconstruction_tag']}) into {r['file']}")
    if not r["reproduction"]:
        print("a new reconstruction (other configuration, constants or learnt state), "
              "not a reproduction")
        return 0
    if r["differing"]:
        print(f"NOT a reproduction: {len(r['differing'])} columns differ from the online "
              "reconstruction:")
        for column, d in r["differences"].items():
            print(f"  {column}: {d['values_differing']} values"
                  + (f", at most {d['max_ulp']} ULP" if d["max_ulp"] else ""))
        rounding = r["rounding"]
        events = rounding["events_differing"]
        print(("within rounding (what another platform may give): " if
               rounding["within_rounding"] else "NOT within rounding: ")
              + f"floats at most {rounding['max_ulp']} ULP apart, {len(events)} events with "
              "another class or flags" + (": " + ", ".join(
                  f"{s}/{e}{'' if ok else ' (not within rounding)'}"
                  for s, e, ok in events[:20]) if events else ""))
        return 1
    print("a reproduction: every column of /reco/events and /reco/channels has the SHA-256 "
          "of the online reconstruction's")
    return 0
